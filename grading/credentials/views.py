"""Thin public views: the issuer's keys, its DID document, credentials and status
lists. A compact VC-JWT is answered as ``application/vc+jwt`` when asked for;
otherwise JSON (the VC Data Model 2.0 ``EnvelopedVerifiableCredential``)."""

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from grading.credentials import keys, status
from grading.credentials.models import Certificate
from grading.credentials.ratelimit import rate_limited

JWT_TYPE = "application/vc+jwt"
VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"


def _wants_jwt(request: HttpRequest) -> bool:
    accept = request.headers.get("Accept", "")
    return JWT_TYPE in accept or "application/jwt" in accept


def _enveloped(token: str) -> dict:
    return {
        "@context": [VC_CONTEXT],
        "id": f"data:{JWT_TYPE},{token}",
        "type": "EnvelopedVerifiableCredential",
    }


def _signed(request: HttpRequest, token: str, *, cache: str) -> HttpResponse:
    if _wants_jwt(request):
        response = HttpResponse(token, content_type=JWT_TYPE)
    else:
        response = JsonResponse(_enveloped(token))
    response["Cache-Control"] = cache
    response["Vary"] = "Accept"
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_GET
def jwks(request: HttpRequest) -> JsonResponse:
    """Every public key whose signatures still verify."""
    response = JsonResponse({"keys": [k.public_jwk for k in keys.verification_keys()]})
    response["Cache-Control"] = "public, max-age=300"
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_GET
def did_document(request: HttpRequest) -> JsonResponse:
    """The did:web document: the same keys as JsonWebKey verification methods."""
    did = keys.issuer_did()
    methods = [
        {
            "id": key.kid,
            "type": "JsonWebKey",
            "controller": did,
            "publicKeyJwk": key.public_jwk,
        }
        for key in keys.verification_keys()
    ]
    document = {
        "@context": ["https://www.w3.org/ns/did/v1", "https://www.w3.org/ns/cid/v1"],
        "id": did,
        "verificationMethod": methods,
        "assertionMethod": [method["id"] for method in methods],
    }
    response = JsonResponse(document, content_type="application/did+json")
    response["Cache-Control"] = "public, max-age=300"
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_GET
@rate_limited(json=True)
def credential(request: HttpRequest, certificate_id) -> HttpResponse:
    """A certificate's signed credential (revoked ones too: the status says so)."""
    certificate = get_object_or_404(Certificate, pk=certificate_id)
    return _signed(request, certificate.jwt, cache="public, max-age=300")


@require_GET
def status_list(request: HttpRequest, list_id: int) -> HttpResponse:
    """The signed status list credential; never cached long, so a revocation
    shows at once."""
    token = status.status_list_signed(list_id)
    if token is None:
        raise Http404
    return _signed(request, token, cache="no-cache")
