-- Requisition of civilian resources and sustainment scenarios (issue 5).
--
-- An order keeps its draft (the columns and its items) and its events, one JSON
-- muster_domain::requisition::RequisitionEvent each; replaying the events through the
-- domain's `transition` rebuilds the order, so history and state cannot disagree. `status`,
-- `event_count` and `total_fen` are derived and kept by every write for lists and the
-- compare-and-set; money is integer fen.

CREATE TABLE requisition_orders (
    id BIGSERIAL PRIMARY KEY,
    region_path TEXT COLLATE "C" NOT NULL,
    holder_kind TEXT NOT NULL,
    holder_organization_id BIGINT REFERENCES organizations (id),
    holder_name TEXT NOT NULL,
    holder_category TEXT NOT NULL,
    legal_basis TEXT NOT NULL,
    status TEXT NOT NULL,
    event_count BIGINT NOT NULL,
    total_fen BIGINT,
    created_by BIGINT REFERENCES users (id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX requisition_orders_path ON requisition_orders (region_path, id);
CREATE INDEX requisition_orders_holder ON requisition_orders (holder_organization_id, id)
    WHERE holder_organization_id IS NOT NULL;

-- `active` is 1 from drafting until the items come back or the order is cancelled: the
-- partial unique index is what makes "requisitioned twice" impossible, even for two
-- drafts racing on PostgreSQL.
CREATE TABLE requisition_items (
    order_id BIGINT NOT NULL REFERENCES requisition_orders (id),
    position BIGINT NOT NULL,
    record_id BIGINT NOT NULL REFERENCES potential_records (id),
    type_code TEXT NOT NULL,
    quantity BIGINT NOT NULL,
    declared_value_fen BIGINT NOT NULL,
    daily_rate_fen BIGINT NOT NULL,
    active BIGINT NOT NULL,
    PRIMARY KEY (order_id, position)
);
CREATE UNIQUE INDEX requisition_items_active_record ON requisition_items (record_id) WHERE active = 1;

CREATE TABLE requisition_events (
    order_id BIGINT NOT NULL REFERENCES requisition_orders (id),
    seq BIGINT NOT NULL,
    action TEXT NOT NULL,
    event TEXT NOT NULL,
    actor TEXT NOT NULL,
    at BIGINT NOT NULL,
    status_after TEXT NOT NULL,
    PRIMARY KEY (order_id, seq)
);

-- A notice link for a holder without an account: only the SHA-256 of the secret is kept.
CREATE TABLE requisition_links (
    token_hash TEXT PRIMARY KEY,
    order_id BIGINT NOT NULL REFERENCES requisition_orders (id),
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

-- A sustainment scenario of an office: consumption, surge and production as one JSON
-- document; the stock is never stored, it is read from the verified potential of the
-- scenario's subtree each time it is run.
CREATE TABLE sustainment_scenarios (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    region_code TEXT COLLATE "C" REFERENCES regions (code),
    region_path TEXT COLLATE "C" NOT NULL,
    document TEXT NOT NULL,
    created_by BIGINT REFERENCES users (id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX sustainment_scenarios_path ON sustainment_scenarios (region_path, id);
