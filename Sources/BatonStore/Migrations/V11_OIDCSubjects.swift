extension Migration {
    /// Version 11: identity-provider subjects (docs/auth.md). A run started with an OIDC token acts for
    /// `oidc:<sub>`; there is no live token to look at before each step, so the API records each subject's mapped
    /// role whenever it authenticates and `serve` recomputes every subject's role from the configured mapping at
    /// start. `baton.run_authority` reads that role for `oidc:` actors as it reads a token's role for `token:` ones.
    static let v11 = Migration(version: 11, name: "oidc subjects", sql: #"""
    CREATE TABLE baton.oidc_subjects (
        subject text PRIMARY KEY,
        issuer text NOT NULL,
        -- The values of the configured role claim in the subject's latest token (not secret: group names).
        claim_values text[] NOT NULL DEFAULT '{}',
        -- viewer, operator or admin as the mapping gives it; NULL when no value maps to one (no runs for it).
        role text CHECK (role IN ('viewer','operator','admin')),
        first_seen_at timestamptz NOT NULL DEFAULT now(),
        last_seen_at timestamptz NOT NULL DEFAULT now(),
        mapped_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE OR REPLACE FUNCTION baton.run_authority(p_run uuid) RETURNS jsonb
    LANGUAGE plpgsql STABLE AS $$
    DECLARE
        v_repository text;
        v_actor text;
        v_token record;
        v_role text;
    BEGIN
        SELECT r.repository, coalesce(r.last_actor, r.initiator) INTO v_repository, v_actor FROM baton.runs r WHERE r.id = p_run;
        IF v_actor LIKE 'oidc:%' THEN
            -- A subject never seen (or forgotten) counts as revoked; one whose mapping gives no role as role 'none'.
            SELECT s.role INTO v_role FROM baton.oidc_subjects s WHERE s.subject = substr(v_actor, 6);
            RETURN jsonb_strip_nulls(jsonb_build_object(
                'repository', v_repository, 'actor', v_actor,
                'actorState', CASE WHEN FOUND THEN 'active' ELSE 'revoked' END,
                'actorRole', CASE WHEN FOUND THEN coalesce(v_role, 'none') END));
        END IF;
        IF v_actor IS NULL OR v_actor NOT LIKE 'token:%' THEN
            RETURN jsonb_strip_nulls(jsonb_build_object('repository', v_repository));
        END IF;
        SELECT t.role, t.expires_at INTO v_token FROM baton.api_tokens t
        WHERE t.name = substr(v_actor, 7) AND t.revoked_at IS NULL ORDER BY t.created_at DESC LIMIT 1;
        RETURN jsonb_strip_nulls(jsonb_build_object(
            'repository', v_repository, 'actor', v_actor,
            'actorState', CASE WHEN NOT FOUND THEN 'revoked'
                               WHEN v_token.expires_at IS NOT NULL AND v_token.expires_at <= now() THEN 'expired'
                               ELSE 'active' END,
            'actorRole', CASE WHEN FOUND THEN v_token.role END));
    END $$;
    """#)
}
