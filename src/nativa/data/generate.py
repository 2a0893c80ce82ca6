"""Build the sample sales database shipped with nativa: `python -m nativa.data.generate [PATH]`.

`nativa run` needs something real to answer on a fresh machine, and the tools benchmark needs exact answers
that never drift, so the data is generated from a fixed seed and the same code always writes the same rows.
The shape is a small shop: customers in five regions, products in five categories, orders with line items
from 2021 to 2024, with growth, seasonality and a few cancelled or returned orders, like real sales data.

The file is written in rollback-journal mode (not WAL) so it can be opened read-only from a read-only
directory such as site-packages.
"""

from __future__ import annotations

import random
import sqlite3
import sys
from datetime import date, timedelta
from pathlib import Path

SEED = 2024
YEARS = (2021, 2022, 2023, 2024)
N_CUSTOMERS = 240

REGIONS: dict[str, tuple[str, ...]] = {
    "North": ("Minneapolis", "Chicago", "Detroit", "Milwaukee"),
    "South": ("Atlanta", "Houston", "Miami", "Nashville"),
    "East": ("Boston", "New York", "Philadelphia", "Baltimore"),
    "West": ("Seattle", "San Francisco", "Los Angeles", "Portland"),
    "Central": ("Denver", "Kansas City", "Omaha", "St. Louis"),
}
# Relative order volume per region and year: the West grows fastest, the North shrinks.
REGION_WEIGHT: dict[str, tuple[float, ...]] = {
    "North": (1.3, 1.2, 1.0, 0.8),
    "South": (1.0, 1.1, 1.2, 1.2),
    "East": (1.4, 1.3, 1.3, 1.2),
    "West": (0.9, 1.2, 1.5, 1.9),
    "Central": (0.6, 0.6, 0.7, 0.7),
}
PRODUCTS: tuple[tuple[str, str, float], ...] = (
    ("Laptop Pro 14", "Electronics", 1499.00), ("Laptop Air 13", "Electronics", 999.00),
    ("Wireless Mouse", "Electronics", 24.99), ("Mechanical Keyboard", "Electronics", 89.50),
    ("27-inch Monitor", "Electronics", 279.00), ("USB-C Hub", "Electronics", 39.90),
    ("Noise-Cancelling Headphones", "Electronics", 249.00), ("Webcam HD", "Electronics", 59.00),
    ("Standing Desk", "Furniture", 549.00), ("Office Chair", "Furniture", 329.00),
    ("Bookshelf", "Furniture", 149.00), ("Desk Lamp", "Furniture", 34.50),
    ("Filing Cabinet", "Furniture", 189.00), ("Monitor Arm", "Furniture", 119.00),
    ("A4 Paper (500 sheets)", "Office Supplies", 6.49), ("Ballpoint Pens (12)", "Office Supplies", 4.99),
    ("Stapler", "Office Supplies", 12.75), ("Sticky Notes", "Office Supplies", 3.25),
    ("Notebook A5", "Office Supplies", 5.90), ("Whiteboard Markers", "Office Supplies", 8.40),
    ("Printer Ink Black", "Office Supplies", 29.99), ("Desk Organizer", "Office Supplies", 18.00),
    ("Coffee Beans 1kg", "Kitchen", 21.50), ("Espresso Machine", "Kitchen", 399.00),
    ("Electric Kettle", "Kitchen", 45.00), ("Water Bottle", "Kitchen", 15.99),
    ("Mug Set", "Kitchen", 22.00), ("Project Management (annual)", "Software", 240.00),
    ("Antivirus (annual)", "Software", 49.99), ("Office Suite (annual)", "Software", 99.00),
    ("Cloud Backup 1TB (annual)", "Software", 119.88), ("Photo Editor", "Software", 79.00),
)
FIRST = ("Olivia", "Liam", "Emma", "Noah", "Ava", "Elijah", "Sophia", "James", "Isabella", "Lucas", "Mia",
         "Mason", "Amelia", "Ethan", "Harper", "Logan", "Evelyn", "Aiden", "Abigail", "Carter", "Ella",
         "Daniel", "Grace", "Henry", "Chloe", "Jack", "Nora", "Owen", "Lily", "Samuel")
LAST = ("Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
        "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
        "Lee", "Perez", "Thompson", "White", "Harris", "Clark", "Lewis", "Young", "King", "Wright")
SEGMENTS = ("Consumer", "Business")
# Seasonality: more orders before the holidays and at the start of the school year.
MONTH_WEIGHT = (0.8, 0.7, 0.9, 0.9, 1.0, 0.9, 0.8, 1.1, 1.2, 1.0, 1.4, 1.7)
ORDERS_PER_YEAR_UNIT = 190  # orders per unit of region weight per year

SCHEMA = """
CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    city TEXT NOT NULL,
    region TEXT NOT NULL,
    segment TEXT NOT NULL,
    signup_date DATE NOT NULL
);
CREATE TABLE products (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    category TEXT NOT NULL,
    unit_price REAL NOT NULL
);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    order_date DATE NOT NULL,
    status TEXT NOT NULL,
    total REAL NOT NULL
);
CREATE TABLE order_items (
    id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders(id),
    product_id INTEGER NOT NULL REFERENCES products(id),
    quantity INTEGER NOT NULL,
    unit_price REAL NOT NULL
);
CREATE INDEX orders_customer ON orders(customer_id);
CREATE INDEX orders_date ON orders(order_date);
CREATE INDEX items_order ON order_items(order_id);
CREATE INDEX items_product ON order_items(product_id);
"""


def _customers(rng: random.Random) -> list[tuple[int, str, str, str, str, str, str]]:
    rows = []
    seen: set[str] = set()
    regions = list(REGIONS)
    for cid in range(1, N_CUSTOMERS + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        email = f"{first}.{last}".lower()
        n = 1
        while email in seen:
            n += 1
            email = f"{first}.{last}{n}".lower()
        seen.add(email)
        region = regions[(cid - 1) % len(regions)]
        city = rng.choice(REGIONS[region])
        segment = SEGMENTS[0] if rng.random() < 0.65 else SEGMENTS[1]
        signup = date(2020, 1, 1) + timedelta(days=rng.randrange(0, 4 * 365))
        rows.append((cid, f"{first} {last}", f"{email}@example.com", city, region, segment, signup.isoformat()))
    return rows


def _order_date(rng: random.Random, year: int) -> date:
    month = rng.choices(range(1, 13), weights=MONTH_WEIGHT)[0]
    start = date(year, month, 1)
    end = date(year + (month == 12), month % 12 + 1, 1)
    return start + timedelta(days=rng.randrange((end - start).days))


def _items(rng: random.Random, segment: str, year: int) -> list[tuple[int, int, float]]:
    """Line items (product id, quantity, unit price); the catalogue price is 2024's, 4 % less each year back."""
    n = rng.choices((1, 2, 3, 4), weights=(5, 3, 2, 1))[0]
    chosen = rng.sample(range(1, len(PRODUCTS) + 1), n)
    items = []
    for pid in chosen:
        price = PRODUCTS[pid - 1][2]
        cheap = price < 40
        qty = rng.randint(1, 10 if cheap else 2) * (3 if segment == "Business" and cheap else 1)
        unit = round(price / 1.04 ** (2024 - year), 2)
        items.append((pid, qty, unit))
    return items


def build(path: Path) -> None:
    """Write the database to `path` (replaced if it exists), deterministically from SEED."""
    rng = random.Random(SEED)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    db = sqlite3.connect(tmp)
    try:
        db.executescript(SCHEMA)
        customers = _customers(rng)
        db.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?, ?)", customers)
        # 2024 prices are the catalogue prices; older orders carry the price of their year.
        db.executemany("INSERT INTO products VALUES (?, ?, ?, ?)",
                       [(i, n, c, p) for i, (n, c, p) in enumerate(PRODUCTS, 1)])
        by_region: dict[str, list[tuple[int, str, str]]] = {r: [] for r in REGIONS}
        for cid, _, _, _, region, segment, signup in customers:
            by_region[region].append((cid, segment, signup))
        orders: list[tuple[int, str, int, str]] = []  # (customer, date, year, segment)
        for yi, year in enumerate(YEARS):
            for region, members in by_region.items():
                for _ in range(round(ORDERS_PER_YEAR_UNIT * REGION_WEIGHT[region][yi])):
                    cid, segment, _signup = rng.choice(members)
                    orders.append((cid, _order_date(rng, year).isoformat(), year, segment))
        orders.sort(key=lambda o: (o[1], o[0]))
        item_rows = []
        order_rows = []
        for oid, (cid, day, year, segment) in enumerate(orders, 1):
            status = rng.choices(("completed", "cancelled", "returned"), weights=(92, 5, 3))[0]
            items = _items(rng, segment, year)
            total = round(sum(q * u for _, q, u in items), 2)
            order_rows.append((oid, cid, day, status, total))
            item_rows.extend((None, oid, pid, q, u) for pid, q, u in items)
        db.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?)", order_rows)
        db.executemany("INSERT INTO order_items VALUES (?, ?, ?, ?, ?)", item_rows)
        db.commit()
        db.execute("PRAGMA journal_mode=DELETE")
        db.execute("VACUUM")
    finally:
        db.close()
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    """Write the database to PATH (default: the shipped sample's place) and say where and how large."""
    from nativa.data import SAMPLE_DB

    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else SAMPLE_DB
    build(target)
    print(f"wrote {target} ({target.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
