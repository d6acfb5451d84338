# The session list orders "startedAt" by (queued_at, id): this index replaces
# (organization, queued_at), which it covers for the "started between" counts too; and it reads
# each row's newest callback by (source_session, id).
#
# Built without locking the table: on PostgreSQL, CREATE INDEX CONCURRENTLY (then the old index
# dropped CONCURRENTLY) keeps the dialler writing sessions while a million-row table is read
# twice; a plain CREATE INDEX would block every insert and update of sessions for the whole
# build. Neither may run in a transaction, hence `atomic = False`, so each step must survive
# being run again after a failure: a CONCURRENTLY build that fails (a deadlock, a cancelled
# deploy) leaves an INVALID index behind under the same name, which the next attempt drops and
# builds again; a valid one (the drop of the old index failed) is kept. SQLite has no
# concurrent builds (and no concurrent writers to spare): it gets the plain operations.
# docs/decisions.md, "Session list at a million rows".

from django.db import migrations, models

NEW_INDEX = "session_org_started_id_idx"


class AddIndexConcurrentlyOnPostgreSQL(migrations.AddIndex):
    atomic = False

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        connection = schema_editor.connection
        if connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(connection.alias, model):
            return None
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_index.indisvalid FROM pg_index "
                "JOIN pg_class ON pg_class.oid = pg_index.indexrelid WHERE pg_class.relname = %s",
                [self.index.name],
            )
            found = cursor.fetchone()
            if found and found[0]:
                return None  # built by an attempt that failed at a later step
            if found:
                cursor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{self.index.name}"')
        schema_editor.add_index(model, self.index, concurrently=True)
        return None

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        connection = schema_editor.connection
        if connection.vendor != "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(connection.alias, model):
            schema_editor.remove_index(model, self.index, concurrently=True)
        return None


class RemoveIndexConcurrentlyOnPostgreSQL(migrations.RemoveIndex):
    atomic = False

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        connection = schema_editor.connection
        if connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(connection.alias, model):
            index = from_state.models[app_label, self.model_name_lower].get_index_by_name(
                self.name
            )
            schema_editor.remove_index(model, index, concurrently=True)
        return None

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        connection = schema_editor.connection
        if connection.vendor != "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(connection.alias, model):
            index = to_state.models[app_label, self.model_name_lower].get_index_by_name(self.name)
            schema_editor.add_index(model, index, concurrently=True)
        return None


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("call_sessions", "0016_session_rehearsal"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="callsession",
            index=models.Index(fields=["organization", "queued_at", "id"], name=NEW_INDEX),
        ),
        RemoveIndexConcurrentlyOnPostgreSQL(
            model_name="callsession",
            name="session_org_started_idx",
        ),
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="scheduledcallback",
            index=models.Index(fields=["source_session", "-id"], name="callback_source_newest_idx"),
        ),
    ]
