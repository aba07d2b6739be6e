-- Hybrid search without the work vector search does not do (issue 15).
--
-- Timed on 100,000 chunks per tenant: the question's tsquery cost 0.2 to 0.3 ms per search,
-- because orch_any_words was a SQL function that cannot be inlined, so its query was planned
-- again at every call; as PL/pgSQL its plan is kept by the session. hybrid_match_documents
-- also fetched every candidate's row twice more after match_documents had returned its
-- content and metadata; it now carries them and reads only `content_tsv`.
CREATE OR REPLACE FUNCTION orch_any_words(query text, language text)
RETURNS tsquery LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN (
        WITH spanish AS (
            SELECT w.lexeme, w.positions FROM unnest(to_tsvector('spanish', query)) w
            WHERE language IS DISTINCT FROM 'en'
        ), english AS (
            SELECT w.lexeme, w.positions FROM unnest(to_tsvector('english', query)) w
            WHERE language IS DISTINCT FROM 'es'
        ), words AS (
            SELECT s.lexeme FROM spanish s
            WHERE language = 'es' OR EXISTS (SELECT 1 FROM english e WHERE e.positions && s.positions)
            UNION
            SELECT e.lexeme FROM english e
            WHERE language = 'en' OR EXISTS (SELECT 1 FROM spanish s WHERE s.positions && e.positions)
        )
        -- Each lexeme quoted for tsquery's input syntax (backslash and quote escaped), so no
        -- word of the question is read as an operator.
        SELECT string_agg(
            '''' || replace(replace(lexeme, '\', '\\'), '''', '''''') || '''', ' | ' ORDER BY lexeme
        )::tsquery
        FROM words
    );
END
$$;

CREATE OR REPLACE FUNCTION hybrid_match_documents(
    query_embedding vector, query_text text, match_count integer,
    filter jsonb DEFAULT '{}'::jsonb
) RETURNS TABLE (
    id uuid, content text, metadata jsonb, similarity double precision, score double precision
) LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    pool integer := greatest(match_count * 2, 20);
    rrf_k constant integer := 5;
    lexical_weight constant double precision := 0.05;
    text_query tsquery := orch_any_words(query_text, filter ->> 'language');
BEGIN
    IF filter IS NULL OR NOT (filter ? 'tenant_id') THEN
        RAISE EXCEPTION 'hybrid_match_documents needs a tenant_id in its filter';
    END IF;
    RETURN QUERY
    WITH semantic AS MATERIALIZED (
        SELECT m.id, m.content, m.metadata, m.similarity,
               row_number() OVER (ORDER BY m.similarity DESC) AS rank
        FROM match_documents(query_embedding, pool, filter) m
    ), lexical AS (
        SELECT s.id, row_number() OVER (
            ORDER BY ts_rank_cd(d.content_tsv, text_query) DESC, s.id
        ) AS rank
        FROM semantic s JOIN documents d ON d.id = s.id
        WHERE d.content_tsv @@ text_query
    )
    SELECT s.id, s.content, s.metadata, s.similarity,
           (1.0 / (rrf_k + s.rank) + coalesce(lexical_weight / (rrf_k + l.rank), 0))::double precision
    FROM semantic s LEFT JOIN lexical l ON l.id = s.id
    ORDER BY 5 DESC, s.id
    LIMIT match_count;
END
$$;
