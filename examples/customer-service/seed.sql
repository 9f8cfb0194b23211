-- The business database of the customer-service example: a small online shop's
-- customers, orders, contact history and open support cases. Every person, address,
-- phone number and email address here is made up; the card numbers are the card
-- networks' published test numbers (they pass the Luhn check and charge nothing).
--
-- silo loads this file into an empty business database (silo.yaml: `seed: seed.sql`), in
-- one transaction, once. The schema is the data connector's
-- (crates/silo-membrane/src/connectors/data.rs). Conventions:
--   * money is integer cents; `balance_cents` is what the customer owes the shop
--     (negative: the shop owes the customer);
--   * `card_number` is the full PAN: it only ever reaches an agent as a token
--     (`[CARD_1]`); `card_last4` is clear;
--   * notes and history summaries are free text written by staff: they mention people,
--     numbers and addresses on purpose, and the membrane tokenises them on the way out.

INSERT INTO customers
  (id, name, email, phone, address, date_of_birth, tier, balance_cents, currency,
   customer_since, card_last4, card_number)
VALUES
  ('cus_001', 'Jane Smith', 'jane.smith@example.com', '+1 (555) 010-2030',
   '12 Harbour Street, Springfield, IL 62704', '1984-03-07', 'gold', 1250, 'USD',
   '2019-05-02', '1111', '4111 1111 1111 1111'),
  ('cus_002', 'Omar Haddad', 'omar.haddad@example.net', '+1 555 010 4455',
   '7 Elm Road, Shelbyville, KY 40065', '1990-11-21', 'standard', 0, 'USD',
   '2022-01-15', '4444', '5555 5555 5555 4444'),
  ('cus_003', 'Li Wei', 'li.wei@example.org', '+44 20 7946 0018',
   '3 Mill Lane, Ogdenville, OX1 4AB', '1977-06-30', 'silver', -1599, 'USD',
   '2017-09-09', '0005', '3782 822463 10005'),
  ('cus_004', 'María José García', 'mj.garcia@example.com', '+1 (555) 014-7788',
   '48 Calle del Sol, Apt 3B, Santa Fe, NM 87501', '1988-02-14', 'standard', 18450, 'USD',
   '2021-06-30', '1881', '4012 8888 8888 1881'),
  ('cus_005', 'Dmitri Volkov', 'd.volkov@example.net', '+1 555 013 9021',
   '901 Birch Avenue, Portland, OR 97205', '1969-12-01', 'silver', 32000, 'USD',
   '2018-03-11', '5100', '5105 1051 0510 5100'),
  ('cus_006', 'Aisha Bello', 'aisha.bello@example.com', '+44 161 496 0732',
   '22 Canal Street, Manchester M1 3HE', '1995-08-19', 'gold', 0, 'USD',
   '2020-10-05', '1117', '6011 1111 1111 1117'),
  ('cus_007', 'Tomás Novák', 'tomas.novak@example.org', '+1 555 016 2210',
   '5 Orchard Close, Burlington, VT 05401', '1979-04-25', 'standard', 4999, 'USD',
   '2023-02-20', '5556', '4000 0566 5566 5556'),
  ('cus_008', 'Priya Raman', 'priya.raman@example.com', '+1 (555) 017-6403',
   '1600 Lakeview Drive, Unit 12, Madison, WI 53703', '1992-07-09', 'gold', 0, 'USD',
   '2016-11-30', '0505', '3566 0020 2036 0505');

INSERT INTO orders (id, customer_id, placed_at, status, total_cents, currency, items, note)
VALUES
  ('ord_1001', 'cus_001', 1763000000, 'delivered', 4599, 'USD', '["Kettle"]',
   'Left with neighbour; Jane Smith called, kettle arrived dented. Call back on 555-010-2030.'),
  ('ord_1002', 'cus_001', 1763500000, 'delivered', 12000, 'USD',
   '["Espresso machine"]',
   'Delivered to 12 Harbour Street. Customer emailed a photo: the water tank is cracked.'),
  ('ord_1003', 'cus_001', 1762500000, 'delivered', 70000, 'USD', '["Sofa"]',
   'Delivered by the courier; one leg was broken on arrival.'),
  ('ord_2001', 'cus_002', 1762000000, 'delivered', 2500, 'USD', '["Tea sampler"]', ''),
  ('ord_3001', 'cus_003', 1761000000, 'returned', 1599, 'USD', '["Toaster"]',
   'Refund owed; email li.wei@example.org when done.'),
  ('ord_4001', 'cus_004', 1759000000, 'delivered', 18450, 'USD',
   '["Standing desk","Desk lamp"]',
   'Paid by invoice INV-2291, due 2025-10-31, still unpaid. Ms García asked for reminders by text.'),
  ('ord_5001', 'cus_005', 1755000000, 'delivered', 8900, 'USD', '["Coffee grinder"]', ''),
  ('ord_5002', 'cus_005', 1760000000, 'delivered', 32000, 'USD', '["Noise-cancelling headphones"]',
   'Charged to card ending 5100. Dmitri Volkov says on the phone he never ordered these.'),
  ('ord_6001', 'cus_006', 1763600000, 'shipped', 8900, 'USD', '["Rain jacket"]',
   'Courier reports a delay at the Manchester depot.'),
  ('ord_7001', 'cus_007', 1761500000, 'delivered', 4999, 'USD', '["Hiking boots"]',
   'Invoice INV-2302 unpaid; Tomas prefers email.'),
  ('ord_8001', 'cus_008', 1763400000, 'delivered', 25900, 'USD', '["Air purifier"]', '');

INSERT INTO history (customer_id, at, channel, summary) VALUES
  ('cus_001', 1763100000, 'email',
   'JANE SMITH wrote from jane.smith@example.com: the kettle is dented, wants money back.'),
  ('cus_001', 1763200000, 'phone',
   'Spoke to Jane; she prefers email. Card on file 4111 1111 1111 1111 was not charged twice.'),
  ('cus_002', 1762100000, 'chat', 'Omar asked about loyalty points.'),
  ('cus_004', 1760500000, 'sms',
   'First reminder for INV-2291 sent to +1 (555) 014-7788. No reply.'),
  ('cus_005', 1760200000, 'phone',
   'Dmitri Volkov (d.volkov@example.net) disputes the headphones charge; says card 5105 1051 0510 5100 was used without his consent.'),
  ('cus_006', 1763700000, 'chat', 'Aisha asked where her rain jacket is; told 3-5 days.'),
  ('cus_008', 1763450000, 'email',
   'Priya Raman asked to update her address to 1600 Lakeview Drive, Unit 12.');

INSERT INTO cases (id, customer_id, status, subject, updated_at) VALUES
  ('case_001', 'cus_001', 'open', 'Damaged deliveries', 1763100000),
  ('case_002', 'cus_002', 'open', 'Loyalty points', 1762100000),
  ('case_003', 'cus_003', 'open', 'Refund for returned toaster', 1761000000),
  ('case_004', 'cus_004', 'open', 'Overdue invoice INV-2291', 1760500000),
  ('case_005', 'cus_005', 'open', 'Disputed headphones charge', 1760200000),
  ('case_006', 'cus_006', 'open', 'Late rain jacket', 1763700000),
  ('case_007', 'cus_007', 'open', 'Overdue invoice INV-2302', 1761500000),
  ('case_008', 'cus_008', 'open', 'Address change', 1763450000);
