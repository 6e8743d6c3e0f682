-- +goose Up
-- Read paths at a province's size (docs/BENCHMARKS.md, "Read paths at
-- scale": a million applications, ten million audit entries).

-- An applicant's list, newest first, is gathered rule by rule of what the
-- caller may see (postgres.Applications): its organisation's, or its own
-- for a person registered alone, those it is the third party of, and those
-- in a state everyone may read (a published challenge). Each rule's newest
-- come in list order from an index of their own; with only the list's
-- index the newest of all were read until enough passed, which was a walk
-- through the whole table (4 s) for an organisation whose applications are
-- few and old.
CREATE INDEX applications_org_page_idx ON applications (org_id, created_at DESC, id DESC);
DROP INDEX applications_org_idx;
CREATE INDEX applications_applicant_page_idx ON applications (applicant_id, created_at DESC, id DESC);
CREATE INDEX applications_party_page_idx ON applications (party_org_id, created_at DESC, id DESC)
    WHERE party_org_id IS NOT NULL;
DROP INDEX applications_party_idx;
CREATE INDEX applications_public_page_idx ON applications ((workflow || ':' || state), created_at DESC, id DESC);

-- The audit log's searches. A listing goes in (xid, seq) order (migration
-- 009); with only that index, a search by actor, by workflow and event, or
-- over a month walked the log from its start or fetched every entry of the
-- month to sort them: 70 to 180 ms a page at ten million entries, more the
-- rarer the match. Each index here hands a filter's entries over in listing order, or
-- ranks a time window's inside the index (INCLUDE) without reading the
-- table; a page's own entries are then read by seq (postgres.AuditQuery).

-- An actor's entries, in listing order; entries of the system name no one.
CREATE INDEX audit_log_actor_listing_idx ON audit_log (actor_id, xid, seq) WHERE actor_id IS NOT NULL;
DROP INDEX audit_log_actor_idx;

-- A workflow's entries of one event (every approval of a programme), in
-- listing order.
CREATE INDEX audit_log_event_listing_idx ON audit_log (workflow, event, xid, seq);

-- A time window, alone or within one workflow, ranked in the index.
CREATE INDEX audit_log_workflow_at_idx ON audit_log (workflow, at) INCLUDE (xid, seq);
CREATE INDEX audit_log_at_listing_idx ON audit_log (at) INCLUDE (xid, seq);
DROP INDEX audit_log_at_idx;

-- +goose Down
CREATE INDEX applications_party_idx ON applications (party_org_id) WHERE party_org_id IS NOT NULL;
CREATE INDEX applications_org_idx ON applications (org_id);
DROP INDEX applications_public_page_idx;
DROP INDEX applications_party_page_idx;
DROP INDEX applications_applicant_page_idx;
DROP INDEX applications_org_page_idx;
CREATE INDEX audit_log_at_idx ON audit_log (at);
DROP INDEX audit_log_at_listing_idx;
DROP INDEX audit_log_workflow_at_idx;
DROP INDEX audit_log_event_listing_idx;
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, seq);
DROP INDEX audit_log_actor_listing_idx;
