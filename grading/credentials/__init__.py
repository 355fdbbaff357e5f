"""Certificates as signed Open Badges 3.0 credentials, and their verification.

``models`` (owned by the grading app), ``keys`` (the issuer's Ed25519 keys),
``jose`` (the only module that calls the JOSE library), ``document`` (the
OpenBadgeCredential), ``status`` (Bitstring Status Lists), ``services`` (issue,
revoke, re-issue) and ``verify`` (the cryptographic verdict).
"""
