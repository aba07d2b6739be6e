"""The shipped migration steps: pinned checksums, a manifest that matches its SQL files."""

from importlib.resources import files

from pgqueuer.adapters.persistence.qb import QueryBuilderEnvironment

from orchestrator_service.db.heal.targets import STEPS
from orchestrator_service.models import METADATA, VECTORS

# What the ledger of every healed database holds. A shipped step is never edited (the healer
# would report it as drift and not re-run it), so these literals never change; add a step.
SHIPPED = [
    (
        "0001_business_assets_tenant_id_integer",
        "metadata",
        "79e0c41cf1bc775319b6cb741b68f8cfda374981b9ac9953be56a926b0df78f4",
    ),
    (
        "0002_pgqueuer_install",
        "metadata",
        "5e7f10b4c0107bd6c0849bab64d47dbd5e3e27fadd9039476855ab3373938a1a",
    ),
    (
        "0003_match_documents",
        "vectors",
        "c5f54441e00104467cbb58a1238aca3879dc750a9ccfcfeb7217acfe748c9a17",
    ),
    (
        "0004_users_username_unique_per_tenant",
        "metadata",
        "83b71f2361a80e2b2f735c8aad22afd8b483a9d0be3c6ce779141cf630f40641",
    ),
    (
        "0005_search_functions",
        "vectors",
        "35b9a88acb2739ecd6d54828159fe1671f1e29564a8a0810191fa456f333375b",
    ),
    (
        "0006_orch_sources",
        "vectors",
        "e4ca40d32be90c1ac2f13d8fd76bde0c3d15d847d5fdbf6a7f062bfc0cb9d272",
    ),
    (
        "0007_filter_prefilter",
        "vectors",
        "dbe2d3addedd85ebe7e5e42df9db3695dcb6a1f70da16ca467d5c6554d690709",
    ),
    (
        "0008_match_documents_ef_search_floor",
        "vectors",
        "023b9e2556a37bf0d7a1f1b116315428f5a2f02bdab40e6b414f23eaea033c71",
    ),
    (
        "0009_close_vector_schema",
        "vectors",
        "2c0b7b2b86a42fe6d04cb0f03eac4a13aaa3cd8393be39e273dfc2a9e6b24375",
    ),
    (
        "0010_visible_documents",
        "vectors",
        "c5efb10a47107330f3bd417e39118d96a0ec4fd706a80dd9c5da4a25a8386526",
    ),
    (
        "0011_any_words_and_builds_in_progress",
        "vectors",
        "b9afe2345b71a2da61091faec6b8f3dd7ec4a3e67d18f39264dbac338bb423f2",
    ),
    (
        "0013_agent_memory_visibility",
        "metadata",
        "0e4c94c3f7488f40abf303e76d0a63b5b65853eae1078cc46317c15352619d8b",
    ),
    (
        "0017_integration_tokens_follow_their_integration",
        "metadata",
        "3a814977a97cd4ef46001b2c6b86cfd10ce04ea0203408ffb44dff3b257e26bf",
    ),
    (
        "0019_default_model_catalogue",
        "metadata",
        "f264e464b8852b517aea702bc2397952a7a564fc2d57b34cc03df234ad310f70",
    ),
    (
        "0023_agents_api_channel",
        "metadata",
        "d8acaa49d8965be16b903fbe580d22f208c8e0579ba8873f87804225e267cd5f",
    ),
    (
        "0024_vectors_of_any_dimension",
        "vectors",
        "14fefbdb71d8295138f1bc212210ebff547bc314e49aa5336278b2780620ba1f",
    ),
    (
        "0026_hybrid_text_ranks_candidates",
        "vectors",
        "7addd94f21d43bbdef2f758fe5185c9f3a9957a8b43c9d1ee9e211a8040c67ee",
    ),
    (
        "0027_hybrid_search_overhead",
        "vectors",
        "ecfe7114d7ed9467886698cf983324112dd231d05ef011c19cd22d340bbac04a",
    ),
]


def test_shipped_steps_keep_their_place_database_and_checksum() -> None:
    """Editing, moving or dropping a shipped step fails here before it drifts a ledger."""
    assert [(s.id, s.database, s.checksum) for s in STEPS[: len(SHIPPED)]] == SHIPPED


def test_the_manifest_lists_every_sql_file_once_in_order() -> None:
    package = files("orchestrator_service.db.steps")
    sql_files = {p.name for p in package.iterdir() if p.name.endswith(".sql")}
    ids = [s.id for s in STEPS]
    assert sql_files == {f"{i}.sql" for i in ids}
    assert ids == sorted(set(ids))
    assert len(METADATA.steps) + len(VECTORS.steps) == len(STEPS)


def test_the_frozen_pgqueuer_script_is_the_installed_pgqueuer_schema() -> None:
    """A pgqueuer release that changes its schema fails here: it needs a step of its own."""
    installed = QueryBuilderEnvironment().build_install_query(create_schema=False)
    frozen = next(s for s in STEPS if s.id == "0002_pgqueuer_install").sql
    # The first line names the pgqueuer version, which may move without the schema moving.
    assert frozen.strip().splitlines()[1:] == installed.strip().splitlines()[1:]
