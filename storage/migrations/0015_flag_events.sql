-- Change notices for the live monitoring page (api/live/): each new flag, each change of a
-- flag's status, and each change of an alert delivery's status is announced on one
-- LISTEN/NOTIFY channel with only the study, the flag id and what changed. The page then
-- reads the flag through the role-checked API; a notice itself carries no study data.
CREATE FUNCTION notify_flag_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    study text;
BEGIN
    IF TG_TABLE_NAME = 'flags' THEN
        PERFORM pg_notify('trialwire_flag_events', json_build_object(
            'study', NEW.study_code, 'flag', NEW.id, 'kind', 'flag',
            'status', NEW.status)::text);
    ELSE
        SELECT f.study_code INTO study FROM flags f WHERE f.id = NEW.flag_id;
        PERFORM pg_notify('trialwire_flag_events', json_build_object(
            'study', study, 'flag', NEW.flag_id, 'kind', 'delivery',
            'status', NEW.status)::text);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER flags_notify AFTER INSERT OR UPDATE OF status ON flags
    FOR EACH ROW EXECUTE FUNCTION notify_flag_event();
CREATE TRIGGER alert_deliveries_notify AFTER INSERT OR UPDATE OF status ON alert_deliveries
    FOR EACH ROW EXECUTE FUNCTION notify_flag_event();
