"""Session pages seek the composite index (instance, workspace, time_created, id) in both orders, on SQLite
(EXPLAIN QUERY PLAN) and PostgreSQL (EXPLAIN): the cursor is an index condition, and no sort is needed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, text

from nbplane.store import sessions_repo
from nbplane.store.db import Database
from nbplane.store.tables import InstanceRow, SessionRow, TenancyRow, WorkspaceRow

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ROWS = 3000


async def _seed(db: Database) -> None:
    async with db.write() as session:
        await session.execute(insert(TenancyRow).values(id="t", name="t"))
        await session.execute(insert(InstanceRow).values(id="i", tenancy_id="t", display_name="i"))
        for key in ("w", "other"):
            await session.execute(insert(WorkspaceRow).values(instance_id="i", key=key, display_name=key))
        rows = [
            {
                "id": f"s{n:05d}",
                "instance_id": "i",
                "workspace_key": "w" if n % 2 else "other",
                "path": f"p{n}.ipynb",
                "name": f"p{n}",
                "kernel_name": "python3",
                "lifecycle_state": "ACTIVE",
                "time_created": T0 + timedelta(seconds=n // 3),
                "time_updated": T0,
            }
            for n in range(ROWS)
        ]
        await session.execute(insert(SessionRow), rows)
    async with db.write() as session:
        await session.execute(text("ANALYZE"))


async def _plan(db: Database, ascending: bool) -> str:
    """The database's plan of the page query exactly as the repository sends it (same SQL, same binds)."""
    query, params = sessions_repo.page_query(
        "i", "w", after=(T0 + timedelta(seconds=500), "s01501"), ascending=ascending
    )
    compiled = query.compile(dialect=db._read_engine.dialect)
    processors = compiled._bind_processors
    values = {k: (processors[k](v) if k in processors else v) for k, v in {**compiled.params, **params}.items()}
    positional = tuple(values[name] for name in compiled.positiontup or ())
    prefix = "EXPLAIN QUERY PLAN " if db.is_sqlite else "EXPLAIN "
    async with db._read_engine.connect() as conn:
        result = await conn.exec_driver_sql(prefix + str(compiled), positional)
        return "\n".join(" ".join(str(c) for c in row) for row in result.all())


@pytest.mark.parametrize("ascending", [False, True], ids=["desc", "asc"])
async def test_page_seeks_the_index(database_url: str, ascending: bool) -> None:
    db = Database(database_url)
    try:
        await db.migrate()
        await _seed(db)
        plan = await _plan(db, ascending)
        if db.is_sqlite:
            assert "USING INDEX ix_sessions_scope_created" in plan, plan
            assert "(time_created,id)>(?,?)" in plan or "(time_created,id)<(?,?)" in plan, plan
            assert "TEMP B-TREE" not in plan, plan
        else:
            assert "ix_sessions_scope_created" in plan, plan
            index_cond = next(line for line in plan.splitlines() if "Index Cond" in line)
            assert "ROW(time_created, (id)::text)" in index_cond, plan
            assert "Sort" not in plan, plan
        # and the page itself is right: the rows just past the cursor, in order
        async with db.reading() as conn:
            rows = await sessions_repo.page(
                conn,
                "i",
                "w",
                path=None,
                cluster_id=None,
                agent_flow_key=None,
                after=(T0 + timedelta(seconds=500), "s01501"),
                ascending=ascending,
                limit=3,
            )
        keys = [(r.time_created, r.id) for r, _ in rows]
        assert keys == sorted(keys, reverse=not ascending)
        cursor = (T0 + timedelta(seconds=500), "s01501")
        assert all((k > cursor) if ascending else (k < cursor) for k in keys)
        assert len(keys) == 3
    finally:
        await db.dispose()
