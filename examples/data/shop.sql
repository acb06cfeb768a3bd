-- A tiny shop for the data_analyst example. The example builds a SQLite file from this script
-- on first run; edit it freely and the database is rebuilt.
CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    country TEXT NOT NULL,
    joined DATE NOT NULL
);
CREATE TABLE products (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    price NUMERIC NOT NULL
);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    ordered_at DATE NOT NULL
);
CREATE TABLE order_items (
    order_id INTEGER NOT NULL REFERENCES orders(id),
    product_id INTEGER NOT NULL REFERENCES products(id),
    quantity INTEGER NOT NULL,
    unit_price NUMERIC NOT NULL,
    PRIMARY KEY (order_id, product_id)
);

INSERT INTO customers VALUES
    (1, 'Aino Virtanen', 'Finland', '2024-02-11'),
    (2, 'Lukas Meyer', 'Germany', '2024-03-02'),
    (3, 'Sofia Rossi', 'Italy', '2024-05-19'),
    (4, 'Emma Larsen', 'Denmark', '2024-06-07'),
    (5, 'Jonas Schmidt', 'Germany', '2024-09-23'),
    (6, 'Marta Nowak', 'Poland', '2025-01-15'),
    (7, 'Pierre Dubois', 'France', '2025-02-03'),
    (8, 'Elena Garcia', 'Spain', '2025-04-28');

INSERT INTO products VALUES
    (1, 'Trail Runner shoes', 'footwear', 120.00),
    (2, 'Wool socks (3 pack)', 'apparel', 24.00),
    (3, 'Rain shell jacket', 'apparel', 180.00),
    (4, 'Headlamp 400 lm', 'gear', 45.00),
    (5, 'Trekking poles', 'gear', 89.00),
    (6, 'Insulated bottle', 'gear', 32.00);

INSERT INTO orders VALUES
    (1, 1, '2025-01-05'),
    (2, 2, '2025-01-17'),
    (3, 3, '2025-02-02'),
    (4, 2, '2025-02-20'),
    (5, 4, '2025-03-08'),
    (6, 5, '2025-03-30'),
    (7, 6, '2025-04-12'),
    (8, 1, '2025-05-01'),
    (9, 7, '2025-05-22'),
    (10, 8, '2025-06-14'),
    (11, 5, '2025-06-30'),
    (12, 3, '2025-07-09');

INSERT INTO order_items VALUES
    (1, 1, 1, 120.00), (1, 2, 2, 24.00),
    (2, 3, 1, 180.00),
    (3, 4, 2, 45.00), (3, 6, 1, 32.00),
    (4, 5, 1, 89.00), (4, 2, 1, 24.00),
    (5, 1, 1, 120.00),
    (6, 3, 1, 171.00), (6, 4, 1, 45.00),
    (7, 6, 3, 32.00),
    (8, 5, 2, 89.00),
    (9, 1, 1, 120.00), (9, 2, 1, 24.00),
    (10, 3, 1, 180.00), (10, 5, 1, 89.00),
    (11, 1, 2, 114.00),
    (12, 2, 4, 24.00);
