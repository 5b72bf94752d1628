-- Civil air defense facilities and the grid (issue 4): grids and their members, facilities,
-- checklist templates, inspection schedules, inspections with attachments, rectification
-- orders with their history, links and reminders, notifications, patrols and campaigns.
-- Days (deadlines, campaign dates, "since") are days since 1970-01-01 (muster_domain::time::
-- CivilDate); instants are epoch milliseconds like everywhere else.

CREATE TABLE grids (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    region_code TEXT COLLATE "C" NOT NULL REFERENCES regions (code),
    region_path TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX grids_region_name ON grids (region_code, name);
CREATE INDEX grids_path ON grids (region_path, id);

CREATE TABLE grid_members (
    grid_id BIGINT NOT NULL REFERENCES grids (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    PRIMARY KEY (grid_id, user_id)
);
CREATE INDEX grid_members_user ON grid_members (user_id, grid_id);

-- `next_due_day` is derived (last inspection + the interval of the schedule in force, or the
-- registration day) and kept by every write that moves it, so "my rounds today" is an index
-- range; the schedules themselves stay the truth.
CREATE TABLE facilities (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    region_code TEXT COLLATE "C" NOT NULL REFERENCES regions (code),
    region_path TEXT COLLATE "C" NOT NULL,
    grid_id BIGINT REFERENCES grids (id),
    lat DOUBLE PRECISION NOT NULL,
    lon DOUBLE PRECISION NOT NULL,
    capacity_persons BIGINT NOT NULL,
    area_m2 DOUBLE PRECISION NOT NULL,
    parking_spaces BIGINT NOT NULL,
    charging_points BIGINT NOT NULL,
    services TEXT NOT NULL,
    peacetime_since_day BIGINT,
    sign_status TEXT NOT NULL,
    sign_installed_day BIGINT,
    equipment TEXT NOT NULL,
    conversion TEXT NOT NULL,
    conversion_minutes BIGINT NOT NULL,
    manager_organization_id BIGINT REFERENCES organizations (id),
    last_inspected_at BIGINT,
    next_due_day BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX facilities_path ON facilities (region_path, id);
CREATE INDEX facilities_grid_due ON facilities (grid_id, next_due_day);
CREATE INDEX facilities_manager ON facilities (manager_organization_id) WHERE manager_organization_id IS NOT NULL;

-- An administrator's edited checklist for a kind; a kind with no row uses the default.
CREATE TABLE checklists (
    kind TEXT PRIMARY KEY,
    document TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE inspection_schedules (
    region_path TEXT COLLATE "C" NOT NULL,
    kind TEXT NOT NULL,
    every_days BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (region_path, kind)
);

-- An inspection keeps the checklist it was made against, so a later edit of the template
-- never changes what a past visit meant. The idempotency key is the phone's: a retry after
-- a lost response finds the inspection it already made.
CREATE TABLE inspections (
    id BIGSERIAL PRIMARY KEY,
    facility_id BIGINT NOT NULL REFERENCES facilities (id),
    region_path TEXT COLLATE "C" NOT NULL,
    inspector_user_id BIGINT NOT NULL REFERENCES users (id),
    idempotency_key TEXT NOT NULL,
    inspected_at BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    lat DOUBLE PRECISION,
    lon DOUBLE PRECISION,
    distance_m DOUBLE PRECISION,
    far_from_facility BIGINT NOT NULL,
    answers TEXT NOT NULL,
    checklist TEXT NOT NULL,
    notes TEXT NOT NULL,
    failed_count BIGINT NOT NULL
);
CREATE UNIQUE INDEX inspections_idempotency ON inspections (inspector_user_id, idempotency_key);
CREATE INDEX inspections_facility ON inspections (facility_id, inspected_at);
CREATE INDEX inspections_path ON inspections (region_path, inspected_at);

CREATE TABLE inspection_attachments (
    inspection_id BIGINT NOT NULL REFERENCES inspections (id),
    sha256 TEXT NOT NULL,
    content_type TEXT NOT NULL,
    media_kind TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    thumbnail_sha256 TEXT,
    PRIMARY KEY (inspection_id, sha256)
);
CREATE INDEX inspection_attachments_sha ON inspection_attachments (sha256);

CREATE TABLE rectification_orders (
    id BIGSERIAL PRIMARY KEY,
    facility_id BIGINT NOT NULL REFERENCES facilities (id),
    inspection_id BIGINT REFERENCES inspections (id),
    region_path TEXT COLLATE "C" NOT NULL,
    manager_organization_id BIGINT REFERENCES organizations (id),
    item_code TEXT NOT NULL,
    item_label TEXT NOT NULL,
    status TEXT NOT NULL,
    deadline_day BIGINT NOT NULL,
    issued_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_reminder TEXT,
    escalated_at BIGINT,
    escalated_to_path TEXT COLLATE "C",
    repair_note TEXT,
    evidence TEXT NOT NULL,
    send_back_reason TEXT
);
CREATE INDEX rectification_orders_path ON rectification_orders (region_path, status);
CREATE INDEX rectification_orders_manager ON rectification_orders (manager_organization_id, status);
CREATE INDEX rectification_orders_facility ON rectification_orders (facility_id);
CREATE INDEX rectification_orders_open ON rectification_orders (deadline_day)
    WHERE status IN ('issued', 'acknowledged', 'sent_back');

CREATE TABLE order_events (
    id BIGSERIAL PRIMARY KEY,
    order_id BIGINT NOT NULL REFERENCES rectification_orders (id),
    action TEXT NOT NULL,
    actor TEXT NOT NULL,
    at BIGINT NOT NULL,
    status_after TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX order_events_order ON order_events (order_id, id);

-- A property manager without an account acts through a link carrying a random secret; only
-- its SHA-256 is stored, and it stops working at `expires_at`.
CREATE TABLE order_links (
    token_hash TEXT PRIMARY KEY,
    order_id BIGINT NOT NULL REFERENCES rectification_orders (id),
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

-- What was sent (or shown in the app) to whom: reminders, escalations, missed checkpoints.
CREATE TABLE notifications (
    id BIGSERIAL PRIMARY KEY,
    region_path TEXT COLLATE "C" NOT NULL,
    organization_id BIGINT REFERENCES organizations (id),
    kind TEXT NOT NULL,
    subject_id BIGINT,
    message TEXT NOT NULL,
    channel TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX notifications_path ON notifications (region_path, id);
CREATE INDEX notifications_organization ON notifications (organization_id, id);

CREATE TABLE patrol_routes (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    region_code TEXT COLLATE "C" NOT NULL REFERENCES regions (code),
    region_path TEXT COLLATE "C" NOT NULL,
    grid_id BIGINT REFERENCES grids (id),
    window_minutes BIGINT NOT NULL,
    checkpoints TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX patrol_routes_path ON patrol_routes (region_path, id);

-- One walk of a route: it starts at its first check-in; when its window has passed the
-- sweep records what it missed (`missed`, a JSON list) and alerts.
CREATE TABLE patrol_runs (
    id BIGSERIAL PRIMARY KEY,
    route_id BIGINT NOT NULL REFERENCES patrol_routes (id),
    region_path TEXT COLLATE "C" NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id),
    started_at BIGINT NOT NULL,
    window_ends_at BIGINT NOT NULL,
    checked_at BIGINT,
    missed TEXT
);
CREATE INDEX patrol_runs_route ON patrol_runs (route_id, started_at);
CREATE INDEX patrol_runs_unchecked ON patrol_runs (window_ends_at) WHERE checked_at IS NULL;

CREATE TABLE patrol_check_ins (
    id BIGSERIAL PRIMARY KEY,
    run_id BIGINT NOT NULL REFERENCES patrol_runs (id),
    checkpoint_code TEXT NOT NULL,
    at BIGINT NOT NULL,
    lat DOUBLE PRECISION,
    lon DOUBLE PRECISION
);
CREATE INDEX patrol_check_ins_run ON patrol_check_ins (run_id, at);

CREATE TABLE campaigns (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    region_code TEXT COLLATE "C" NOT NULL REFERENCES regions (code),
    region_path TEXT COLLATE "C" NOT NULL,
    facility_kind TEXT,
    target TEXT NOT NULL,
    start_day BIGINT NOT NULL,
    target_day BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX campaigns_path ON campaigns (region_path, id);
