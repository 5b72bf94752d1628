-- Demand docking (issue 5): demands with their lines and task meetings, allocations that
-- reserve potential records, on-site inspections and signed handovers.
--
-- `potential_records.reserved_quantity` is what accepted allocations hold of a record and
-- have not yet handed over. Accepting reserves with one conditional UPDATE per record
-- (`quantity - reserved_quantity >= q`), so two allocations racing for the same holding can
-- never both get it; a handover takes the quantity out of the record (`quantity` and
-- `reserved_quantity` both fall), so the stock that left is no longer potential.

ALTER TABLE potential_records ADD COLUMN reserved_quantity DOUBLE PRECISION NOT NULL DEFAULT 0;
CREATE INDEX potential_records_type_status ON potential_records (type_code, status);

-- `classification_rank` is the level's order (public 0 … secret 3), so the clearance check
-- is `classification_rank <= $clearance` in the same statement as the scope range.
CREATE TABLE demands (
    id BIGSERIAL PRIMARY KEY,
    title TEXT NOT NULL,
    origin TEXT NOT NULL,
    classification TEXT NOT NULL,
    classification_rank BIGINT NOT NULL,
    region_code TEXT COLLATE "C" NOT NULL REFERENCES regions (code),
    region_path TEXT COLLATE "C" NOT NULL,
    status TEXT NOT NULL,
    ending TEXT,
    escalated_from_demand_id BIGINT REFERENCES demands (id),
    escalated_from_region TEXT,
    received_at BIGINT NOT NULL,
    created_by BIGINT REFERENCES users (id),
    created_by_name TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL
);
CREATE INDEX demands_path ON demands (region_path, id);

CREATE TABLE demand_lines (
    id BIGSERIAL PRIMARY KEY,
    demand_id BIGINT NOT NULL REFERENCES demands (id),
    line_no BIGINT NOT NULL,
    type_code TEXT NOT NULL,
    quantity BIGINT NOT NULL,
    lat DOUBLE PRECISION NOT NULL,
    lon DOUBLE PRECISION NOT NULL,
    needed_by BIGINT NOT NULL,
    priority BIGINT NOT NULL,
    origin_line BIGINT,
    allocated BIGINT NOT NULL DEFAULT 0,
    inspected BIGINT NOT NULL DEFAULT 0,
    handed_over BIGINT NOT NULL DEFAULT 0,
    CHECK (handed_over <= inspected AND inspected <= allocated AND allocated <= quantity)
);
CREATE UNIQUE INDEX demand_lines_demand ON demand_lines (demand_id, line_no);

CREATE TABLE demand_meetings (
    id BIGSERIAL PRIMARY KEY,
    demand_id BIGINT NOT NULL REFERENCES demands (id),
    held_at BIGINT NOT NULL,
    attendees TEXT NOT NULL,
    decisions TEXT NOT NULL,
    recorded_by_name TEXT NOT NULL,
    recorded_at BIGINT NOT NULL
);
CREATE INDEX demand_meetings_demand ON demand_meetings (demand_id, id);

-- One accepted assignment: `quantity` units of a record reserved for a line. Of those,
-- `inspected` were accepted on site, `released` given back (failed inspection, cancelled),
-- `handed_over` handed over.
CREATE TABLE demand_allocations (
    id BIGSERIAL PRIMARY KEY,
    demand_id BIGINT NOT NULL REFERENCES demands (id),
    line_id BIGINT NOT NULL REFERENCES demand_lines (id),
    record_id BIGINT NOT NULL REFERENCES potential_records (id),
    quantity BIGINT NOT NULL,
    inspected BIGINT NOT NULL DEFAULT 0,
    released BIGINT NOT NULL DEFAULT 0,
    handed_over BIGINT NOT NULL DEFAULT 0,
    great_circle_km DOUBLE PRECISION NOT NULL,
    travel_hours DOUBLE PRECISION NOT NULL,
    unit_cost_cents BIGINT NOT NULL,
    accepted_at BIGINT NOT NULL,
    accepted_by_name TEXT NOT NULL,
    CHECK (quantity > 0 AND handed_over <= inspected AND inspected + released <= quantity)
);
CREATE INDEX demand_allocations_demand ON demand_allocations (demand_id, id);
CREATE INDEX demand_allocations_record ON demand_allocations (record_id);

CREATE TABLE demand_inspections (
    id BIGSERIAL PRIMARY KEY,
    demand_id BIGINT NOT NULL REFERENCES demands (id),
    allocation_id BIGINT NOT NULL REFERENCES demand_allocations (id),
    condition TEXT NOT NULL,
    quantity_seen BIGINT NOT NULL,
    quantity_accepted BIGINT NOT NULL,
    photos TEXT NOT NULL,
    notes TEXT NOT NULL,
    inspector_name TEXT NOT NULL,
    inspected_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX demand_inspections_allocation ON demand_inspections (allocation_id);
CREATE INDEX demand_inspections_demand ON demand_inspections (demand_id, id);

CREATE TABLE demand_handovers (
    id BIGSERIAL PRIMARY KEY,
    demand_id BIGINT NOT NULL REFERENCES demands (id),
    handed_at BIGINT NOT NULL,
    supplier_signatory TEXT NOT NULL,
    supplier_signed_at BIGINT NOT NULL,
    receiver_signatory TEXT NOT NULL,
    receiver_signed_at BIGINT NOT NULL,
    notes TEXT NOT NULL,
    recorded_by_name TEXT NOT NULL,
    recorded_at BIGINT NOT NULL
);
CREATE INDEX demand_handovers_demand ON demand_handovers (demand_id, id);

CREATE TABLE demand_handover_items (
    handover_id BIGINT NOT NULL REFERENCES demand_handovers (id),
    allocation_id BIGINT NOT NULL REFERENCES demand_allocations (id),
    quantity BIGINT NOT NULL,
    PRIMARY KEY (handover_id, allocation_id)
);
