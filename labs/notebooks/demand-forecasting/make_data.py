"""Generate data/daily_sales.csv for the demand-forecasting lab.

90 days of daily unit sales for one product of an online store:
    sales = (level + trend * day) * weekday_factor + noise
with a fixed random seed, so re-running this script reproduces the
committed CSV exactly.  One stockout day (zero sales) is planted in the
evaluation window to show why MAPE must skip zero actuals.

Run from the lab directory:  python make_data.py
"""

from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20240304
DAYS = 90
START = "2024-03-04"  # a Monday
LEVEL = 200.0  # units/day at the start
TREND = 1.0  # extra units/day, each day
# Monday .. Sunday multipliers: weekend shopping peak
WEEKDAY_FACTOR = np.array([0.90, 0.92, 0.95, 1.00, 1.08, 1.25, 1.15])
NOISE_STD = 12.0
STOCKOUT_DAY = 80  # 0-based index of a day when the product was out of stock


def make_sales() -> pd.DataFrame:
    rng = np.random.default_rng(SEED)
    dates = pd.date_range(START, periods=DAYS, freq="D")
    t = np.arange(DAYS)
    expected = (LEVEL + TREND * t) * WEEKDAY_FACTOR[dates.day_of_week]
    sales = np.round(expected + rng.normal(0.0, NOISE_STD, DAYS))
    sales = np.clip(sales, 0, None).astype(int)
    sales[STOCKOUT_DAY] = 0
    return pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "units_sold": sales})


if __name__ == "__main__":
    out = Path(__file__).resolve().parent / "data" / "daily_sales.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    make_sales().to_csv(out, index=False)
    print(f"wrote {out}")
