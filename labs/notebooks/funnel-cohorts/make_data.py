"""Generate data/events.csv for the funnel-cohorts lab.

Deterministic (fixed seed): running it again reproduces the committed CSV
byte for byte.  Simulates ~8 weeks of shop sessions, 2024-03-04 (a Monday)
to 2024-04-28.  Each user signs up in one week (their cohort, `signup_week`
= the Monday of that week) with a first visit that week, then comes back in
later weeks with a decaying probability.  A session is a `visit`, optionally
followed by `add_to_cart`, `checkout` and `purchase`.  The cohort of week 4
came from a discount campaign: many sign-ups, weaker retention and
conversion.

Usage: python make_data.py   (writes data/events.csv next to this script)
"""

from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20240304
START = pd.Timestamp("2024-03-04")  # Monday of week 0
N_WEEKS = 8
USERS_PER_WEEK = [18, 16, 17, 15, 34, 16, 14, 13]  # week 4: campaign cohort
CAMPAIGN_WEEK = 4

P_CART, P_CHECKOUT, P_PURCHASE = 0.45, 0.65, 0.80


def main() -> None:
    rng = np.random.default_rng(SEED)
    rows = []
    user_id = 1000
    for week, n_users in enumerate(USERS_PER_WEEK):
        campaign = week == CAMPAIGN_WEEK
        for _ in range(n_users):
            user_id += 1
            signup_week = START + pd.Timedelta(weeks=week)
            engagement = rng.uniform(0.35, 1.0) * (0.6 if campaign else 1.0)
            buy_factor = 0.55 if campaign else 1.0
            signup_day = int(rng.integers(0, 7))
            for k in range(N_WEEKS - week):
                if k == 0:
                    n_sessions = 1 + int(rng.poisson(0.4))
                elif rng.random() < engagement * 0.75 ** (k - 1):
                    n_sessions = 1 + int(rng.poisson(0.3))
                else:
                    continue
                week_start = signup_week + pd.Timedelta(weeks=k)
                for s in range(n_sessions):
                    if k == 0 and s == 0:
                        day = signup_day
                    else:
                        day = int(rng.integers(signup_day if k == 0 else 0, 7))
                    t = (
                        week_start
                        + pd.Timedelta(days=day)
                        + pd.Timedelta(minutes=int(rng.integers(8 * 60, 22 * 60)))
                    )
                    rows.append((user_id, "visit", t, signup_week))
                    if rng.random() >= P_CART:
                        continue
                    t += pd.Timedelta(minutes=int(rng.integers(1, 20)))
                    rows.append((user_id, "add_to_cart", t, signup_week))
                    if rng.random() >= P_CHECKOUT:
                        continue
                    t += pd.Timedelta(minutes=int(rng.integers(1, 10)))
                    rows.append((user_id, "checkout", t, signup_week))
                    if rng.random() >= P_PURCHASE * buy_factor:
                        continue
                    t += pd.Timedelta(minutes=int(rng.integers(1, 5)))
                    rows.append((user_id, "purchase", t, signup_week))
    events = pd.DataFrame(
        rows, columns=["user_id", "event", "timestamp", "signup_week"]
    )
    events = events.sort_values(["timestamp", "user_id"], kind="stable").reset_index(
        drop=True
    )
    events["timestamp"] = events["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S")
    events["signup_week"] = events["signup_week"].dt.strftime("%Y-%m-%d")
    out = Path(__file__).resolve().parent / "data" / "events.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    events.to_csv(out, index=False, lineterminator="\n")
    print(
        f"wrote {len(events)} events for {events['user_id'].nunique()} users to {out}"
    )


if __name__ == "__main__":
    main()
