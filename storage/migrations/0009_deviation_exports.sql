-- Protocol deviations go to the EDC incrementally, like readings: a page is ordered by
-- (updated_at, id), and a deviation whose status or observed value changes is exported
-- again (an upsert on the EDC side), after what was already exported.
ALTER TABLE protocol_deviations ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX protocol_deviations_export ON protocol_deviations (study_code, updated_at, id);
