import ArgumentParser
import BatonAPI
import BatonStore

/// The `serve`/`up` flags for identity-provider JWTs (docs/auth.md); each falls back to its variable, then the file.
struct OIDCOptions: ParsableArguments {
    @Option(help: "OpenID Connect issuer whose JWTs are accepted beside Baton's tokens; unset accepts Baton's tokens only (env BATON_OIDC_ISSUER).")
    var oidcIssuer: String?
    @Option(help: "Audience the JWTs must carry in aud (env BATON_OIDC_AUDIENCE).") var oidcAudience: String?
    @Option(help: "URL of the issuer's JWK set (env BATON_OIDC_JWKS_URL).") var oidcJwksUrl: String?
    @Option(help: "Allowed clock skew for exp and nbf, in seconds (env BATON_OIDC_CLOCK_SKEW; default 60).") var oidcClockSkew: Int?
    @Option(help: "Claim (or dotted path) whose values map to roles (env BATON_OIDC_ROLE_CLAIM; default groups).") var oidcRoleClaim: String?
    @Option(help: "Claim value → role, as value=role,value=role (roles: viewer, operator, admin, worker) (env BATON_OIDC_ROLES).")
    var oidcRoles: String?
    @Option(help: "JSON object: worker claim value → policy {repositories, workflows, steps, capabilities} (env BATON_OIDC_WORKER_POLICIES).")
    var oidcWorkerPolicies: String?
    @Option(help: "Seconds after which the JWK set is fetched again (env BATON_OIDC_JWKS_MAX_AGE; default 600).") var oidcJwksMaxAge: Int?
    @Option(help: "Least seconds between two fetches of the JWK set, e.g. for unknown key ids (env BATON_OIDC_JWKS_COOLDOWN; default 30).")
    var oidcJwksCooldown: Int?

    /// The configuration, or nil when no issuer is set; a partial or unusable one is a configuration error (exit 78).
    func configuration() throws -> OIDCConfiguration? {
        let env = AppEnvironment.current
        let issuer = oidcIssuer ?? env.setting("BATON_OIDC_ISSUER")
        let audience = oidcAudience ?? env.setting("BATON_OIDC_AUDIENCE")
        let jwksURL = oidcJwksUrl ?? env.setting("BATON_OIDC_JWKS_URL")
        guard let issuer else {
            if audience != nil || jwksURL != nil {
                throw ConfigurationFailure("oidc.audience or oidc.jwks_url is set but oidc.issuer (BATON_OIDC_ISSUER) is not: set the issuer to accept its JWTs, or unset both")
            }
            return nil
        }
        guard let audience, let jwksURL else {
            throw ConfigurationFailure("oidc.issuer is set, so oidc.audience (BATON_OIDC_AUDIENCE) and oidc.jwks_url (BATON_OIDC_JWKS_URL) are needed too")
        }
        do {
            let configuration = OIDCConfiguration(
                issuer: issuer, audience: audience, jwksURL: jwksURL,
                clockSkew: .seconds(try oidcClockSkew ?? env.number("BATON_OIDC_CLOCK_SKEW") ?? 60),
                roleClaim: oidcRoleClaim ?? env.setting("BATON_OIDC_ROLE_CLAIM") ?? "groups",
                roles: try OIDCConfiguration.parseRoles(oidcRoles ?? env.setting("BATON_OIDC_ROLES") ?? ""),
                workerPolicies: try OIDCConfiguration.parseWorkerPolicies(oidcWorkerPolicies ?? env.setting("BATON_OIDC_WORKER_POLICIES") ?? "{}"),
                jwksMaxAge: .seconds(try oidcJwksMaxAge ?? env.number("BATON_OIDC_JWKS_MAX_AGE") ?? 600),
                jwksCooldown: .seconds(try oidcJwksCooldown ?? env.number("BATON_OIDC_JWKS_COOLDOWN") ?? 30))
            try configuration.validate()
            return configuration
        } catch let error as OIDCConfigurationError {
            throw ConfigurationFailure(error.description)
        }
    }
}
