-- +goose Up
-- Every applicant's submission first asks whether they registered and are
-- not yet verified (account.Service.SubmitGate); the question read every
-- application of theirs through their list's index. The registrations still
-- pending are few: this index holds only them. Its predicate names the
-- verification workflow and its verified state (account.VerificationWorkflow
-- and account.VerifiedState), which the query spells the same way so that
-- its prepared plan can use it.
CREATE INDEX applications_pending_registration_idx ON applications (applicant_id)
    WHERE workflow = 'org_verification' AND state <> 'verified';

-- +goose Down
DROP INDEX applications_pending_registration_idx;
