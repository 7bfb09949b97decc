-- Subject lifecycle (storage/subject_lifecycle.py): screening → active ⇄ paused →
-- withdrawn / completed. status_since is when the current status began: a withdrawn
-- subject's data measured from then on is refused. A study's withdrawal_policy says what
-- becomes of the data collected before: kept ('retain') or deleted with an audited record.
ALTER TABLE subjects DROP CONSTRAINT subjects_status_check;
ALTER TABLE subjects ADD CONSTRAINT subjects_status_check
    CHECK (status IN ('screening', 'active', 'paused', 'completed', 'withdrawn'));
ALTER TABLE subjects ADD COLUMN status_since timestamptz;
ALTER TABLE studies ADD COLUMN withdrawal_policy text NOT NULL DEFAULT 'retain'
    CHECK (withdrawal_policy IN ('retain', 'delete'));
