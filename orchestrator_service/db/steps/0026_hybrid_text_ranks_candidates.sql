-- Hybrid search's full-text side ranks the semantic candidates only, of which it asks 2k
-- (issue 15).
--
-- Until now it ranked every chunk of the tenant matching any of the question's words (up to
-- 10,000) with ts_rank_cd, whatever k was: 1.8 to 2.2 times vector search at 50,000 and
-- 100,000 documents (bench/search_scale.py). With the fusion `1/(5 + vector rank) +
-- 0.05/(5 + text rank)`, a chunk found by full text alone scores at most 0.05/6, below the
-- k-th semantic candidate's 1/(5 + k) for any k under 115 (the API allows 50): it could reach
-- the answer only if the semantic side returned fewer than k rows, and then that side already
-- holds every visible row under the filter (match_documents' top-k is complete). So the
-- answer's chunks are the same; what the full-text side decides, the order of close semantic
-- ranks, is now decided by text ranks among the candidates. For the same reason 2k candidates
-- are enough (4k before): the one at rank 2k + 1 scores at most 1/(6 + 2k) + 0.05/6, below
-- the k-th's 1/(5 + k) for every k up to 50, and asking match_documents for fewer keeps its
-- HNSW search as wide as vector search's (ef_search 100 below 25 candidates).
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
    WITH semantic AS (
        SELECT m.id, m.similarity, row_number() OVER (ORDER BY m.similarity DESC) AS rank
        FROM match_documents(query_embedding, pool, filter) m
    ), lexical AS (
        SELECT d.id, row_number() OVER (
            ORDER BY ts_rank_cd(d.content_tsv, text_query) DESC, d.id
        ) AS rank
        FROM semantic s JOIN documents d ON d.id = s.id
        WHERE d.content_tsv @@ text_query
    ), fused AS (
        SELECT s.id, s.similarity,
               1.0 / (rrf_k + s.rank) + coalesce(lexical_weight / (rrf_k + l.rank), 0) AS score
        FROM semantic s LEFT JOIN lexical l ON s.id = l.id
    )
    SELECT d.id, d.content, d.metadata || jsonb_build_object('generation', d.generation),
           f.similarity, f.score::double precision
    FROM fused f JOIN documents d ON d.id = f.id
    ORDER BY f.score DESC, d.id
    LIMIT match_count;
END
$$;
