//! Diesel table definitions shared by the SQLite and PostgreSQL backends. Only types common to both are used:
//! Text, BigInt, Integer, Bool, Binary. Times are unix seconds.

diesel::table! {
    users (id) {
        id -> Text,
        username -> Text,
        email -> Nullable<Text>,
        name -> Nullable<Text>,
        password_hash -> Text,
        is_admin -> Bool,
        disabled -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
        credentials_changed_at -> BigInt,
        email_verified -> Bool,
    }
}

diesel::table! {
    clients (id) {
        id -> Text,
        name -> Text,
        secret_hash -> Nullable<Text>,
        is_public -> Bool,
        first_party -> Bool,
        redirect_uris -> Text,
        post_logout_redirect_uris -> Text,
        grant_types -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        backchannel_logout_uri -> Nullable<Text>,
        backchannel_logout_session_required -> Bool,
        require_pkce -> Bool,
        require_mfa -> Bool,
        web_origins -> Text,
        require_par -> Bool,
        require_dpop -> Bool,
        id_token_alg -> Text,
        access_token_alg -> Text,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Text,
        at -> BigInt,
        actor -> Nullable<Text>,
        action -> Text,
        target -> Nullable<Text>,
        ip -> Nullable<Text>,
        detail -> Nullable<Text>,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        alg -> Text,
        bits -> Integer,
        public_n -> Text,
        public_e -> Text,
        sealed_private -> Nullable<Binary>,
        master_key_id -> Text,
        created_at -> BigInt,
        published_at -> BigInt,
        activates_at -> BigInt,
        superseded_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
        revoke_reason -> Nullable<Text>,
        public_x -> Nullable<Text>,
        public_y -> Nullable<Text>,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        user_id -> Nullable<Text>,
        state -> Text,
        created_at -> BigInt,
        auth_time -> Nullable<BigInt>,
        last_seen_at -> BigInt,
        expires_at -> BigInt,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        sid -> Nullable<Text>,
    }
}

diesel::table! {
    auth_codes (code_hash) {
        code_hash -> Text,
        client_id -> Text,
        user_id -> Text,
        sid -> Text,
        redirect_uri -> Text,
        scope -> Text,
        nonce -> Nullable<Text>,
        code_challenge -> Nullable<Text>,
        auth_time -> BigInt,
        amr -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
        access_jti -> Nullable<Text>,
        family_id -> Nullable<Text>,
        dpop_jkt -> Nullable<Text>,
    }
}

diesel::table! {
    consents (user_id, client_id) {
        user_id -> Text,
        client_id -> Text,
        scope -> Text,
        granted_at -> BigInt,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        family_id -> Text,
        client_id -> Text,
        user_id -> Text,
        sid -> Nullable<Text>,
        scope -> Text,
        auth_time -> BigInt,
        created_at -> BigInt,
        expires_at -> BigInt,
        rotated_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
        amr -> Text,
        access_jti -> Nullable<Text>,
        access_expires_at -> Nullable<BigInt>,
        offline -> Bool,
        family_expires_at -> BigInt,
        dpop_jkt -> Nullable<Text>,
    }
}

diesel::table! {
    revoked_jtis (jti) {
        jti -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    login_failures (id) {
        id -> Text,
        subject -> Text,
        at -> BigInt,
    }
}

diesel::table! {
    session_clients (sid, client_id) {
        sid -> Text,
        client_id -> Text,
        user_id -> Text,
        first_at -> BigInt,
    }
}

diesel::table! {
    logout_outbox (id) {
        id -> Text,
        client_id -> Text,
        user_id -> Text,
        sid -> Text,
        jti -> Text,
        created_at -> BigInt,
        attempts -> Integer,
        next_attempt_at -> BigInt,
        claimed_until -> Nullable<BigInt>,
        delivered_at -> Nullable<BigInt>,
        failed_at -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    groups (id) {
        id -> Text,
        name -> Text,
        description -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::table! {
    group_members (group_id, user_id) {
        group_id -> Text,
        user_id -> Text,
        added_at -> BigInt,
    }
}

diesel::table! {
    client_allowed_groups (client_id, group_id) {
        client_id -> Text,
        group_id -> Text,
    }
}

diesel::table! {
    client_roles (client_id, role, group_id) {
        client_id -> Text,
        role -> Text,
        group_id -> Text,
    }
}

diesel::table! {
    apis (id) {
        id -> Text,
        identifier -> Text,
        name -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    mfa_factors (id) {
        id -> Text,
        user_id -> Text,
        kind -> Text,
        name -> Text,
        secret -> Nullable<Text>,
        credential_id -> Nullable<Text>,
        credential -> Nullable<Text>,
        last_step -> Nullable<BigInt>,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    api_scopes (scope) {
        scope -> Text,
        api_id -> Text,
        description -> Nullable<Text>,
    }
}

diesel::table! {
    client_allowed_scopes (client_id, scope) {
        client_id -> Text,
        scope -> Text,
    }
}

diesel::table! {
    recovery_codes (code_hash) {
        code_hash -> Text,
        user_id -> Text,
        created_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    device_codes (device_code_hash) {
        device_code_hash -> Text,
        user_code_hash -> Text,
        client_id -> Text,
        scope -> Text,
        status -> Text,
        user_id -> Nullable<Text>,
        sid -> Nullable<Text>,
        amr -> Nullable<Text>,
        auth_time -> Nullable<BigInt>,
        created_at -> BigInt,
        expires_at -> BigInt,
        poll_interval -> BigInt,
        last_polled_at -> Nullable<BigInt>,
        decided_at -> Nullable<BigInt>,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(group_members -> groups (group_id));
diesel::joinable!(group_members -> users (user_id));
diesel::joinable!(client_allowed_groups -> groups (group_id));
diesel::joinable!(client_roles -> groups (group_id));
diesel::joinable!(api_scopes -> apis (api_id));
diesel::joinable!(client_allowed_scopes -> api_scopes (scope));
diesel::table! {
    pushed_requests (uri_hash) {
        uri_hash -> Text,
        client_id -> Text,
        params -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    dpop_jtis (jti_hash) {
        jti_hash -> Text,
        expires_at -> BigInt,
    }
}

diesel::joinable!(pushed_requests -> clients (client_id));
diesel::joinable!(mfa_factors -> users (user_id));
diesel::joinable!(recovery_codes -> users (user_id));
diesel::joinable!(session_clients -> clients (client_id));
diesel::joinable!(logout_outbox -> clients (client_id));
diesel::joinable!(auth_codes -> clients (client_id));
diesel::joinable!(refresh_tokens -> clients (client_id));
diesel::joinable!(device_codes -> clients (client_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    clients,
    audit_log,
    signing_keys,
    sessions,
    auth_codes,
    consents,
    refresh_tokens,
    revoked_jtis,
    login_failures,
    session_clients,
    logout_outbox,
    groups,
    group_members,
    client_allowed_groups,
    client_roles,
    apis,
    api_scopes,
    client_allowed_scopes,
    mfa_factors,
    recovery_codes,
    device_codes,
    pushed_requests,
    dpop_jtis,
);
