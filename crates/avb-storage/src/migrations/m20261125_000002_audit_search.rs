//! Full-text search over the audit log: FTS5 on SQLite, a GIN `tsvector` index on PostgreSQL.

use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        match m.get_database_backend() {
            DbBackend::Postgres => {
                // A stored vector, so that index rechecks never re-parse the text.
                db.execute_unprepared(
                    "ALTER TABLE audit_events ADD COLUMN search_vector tsvector
                       GENERATED ALWAYS AS (to_tsvector('simple', search_text)) STORED;
                     CREATE INDEX audit_events_search ON audit_events USING GIN (search_vector);",
                )
                .await?;
                // Row-level security keeps non-leakproof operators such as @@ away from indexes,
                // so a search would scan the table. This function applies the same tenant rule
                // as the policy itself and, when owned by a superuser (who bypasses RLS), lets the
                // GIN index answer. Owned by anyone else it is still correct, only slower.
                db.execute_unprepared(
                    "CREATE FUNCTION avb_audit_search(q tsquery) RETURNS SETOF uuid
                       LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
                         SELECT id FROM audit_events
                         WHERE (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid
                                OR current_setting('app.platform', true) = 'on')
                           AND search_vector @@ q
                       $$;
                     REVOKE ALL ON FUNCTION avb_audit_search(tsquery) FROM PUBLIC;
                     GRANT EXECUTE ON FUNCTION avb_audit_search(tsquery) TO avb_tenant;",
                )
                .await?;
            }
            _ => {
                db.execute_unprepared(
                    "CREATE VIRTUAL TABLE audit_fts USING fts5(search_text, content='audit_events', content_rowid='rowid');
                     INSERT INTO audit_fts(rowid, search_text) SELECT rowid, search_text FROM audit_events;
                     CREATE TRIGGER audit_fts_insert AFTER INSERT ON audit_events BEGIN
                       INSERT INTO audit_fts(rowid, search_text) VALUES (new.rowid, new.search_text);
                     END;
                     CREATE TRIGGER audit_fts_delete AFTER DELETE ON audit_events BEGIN
                       INSERT INTO audit_fts(audit_fts, rowid, search_text) VALUES ('delete', old.rowid, old.search_text);
                     END;
                     CREATE TRIGGER audit_fts_update AFTER UPDATE OF search_text ON audit_events BEGIN
                       INSERT INTO audit_fts(audit_fts, rowid, search_text) VALUES ('delete', old.rowid, old.search_text);
                       INSERT INTO audit_fts(rowid, search_text) VALUES (new.rowid, new.search_text);
                     END;",
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        match m.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared(
                    "DROP FUNCTION avb_audit_search(tsquery); DROP INDEX audit_events_search;
                     ALTER TABLE audit_events DROP COLUMN search_vector",
                )
                    .await?
            }
            _ => {
                db.execute_unprepared(
                    "DROP TRIGGER audit_fts_insert; DROP TRIGGER audit_fts_delete; DROP TRIGGER audit_fts_update;
                     DROP TABLE audit_fts;",
                )
                .await?
            }
        };
        Ok(())
    }
}
