-- Local days (docs/storage.md "Time zones"): each site has an IANA time zone (the default
-- of its subjects) and a subject may have zones of their own from a given instant (a move,
-- a journey). subject_zone_periods gives every subject's zone over time as ranges, so a
-- day, a completeness figure, a deviation or an analytic is the participant's local day.
ALTER TABLE sites ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC'
    CHECK (length(time_zone) BETWEEN 1 AND 64);

CREATE TABLE subject_time_zones (
    subject_code  code_text NOT NULL REFERENCES subjects (code),
    since         timestamptz NOT NULL,
    zone          text NOT NULL CHECK (length(zone) BETWEEN 1 AND 64),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subject_code, since)
);

CREATE VIEW subject_zone_periods AS
    -- before a subject's first zone of their own: their site's
    SELECT s.code AS subject_code, si.time_zone AS zone,
           tstzrange('-infinity', coalesce(
               (SELECT min(z.since) FROM subject_time_zones z WHERE z.subject_code = s.code),
               'infinity'), '[)') AS valid
      FROM subjects s JOIN sites si ON si.study_code = s.study_code AND si.code = s.site_code
    UNION ALL
    SELECT z.subject_code, z.zone,
           tstzrange(z.since, coalesce(lead(z.since) OVER (PARTITION BY z.subject_code
                                                            ORDER BY z.since), 'infinity'), '[)')
      FROM subject_time_zones z;
