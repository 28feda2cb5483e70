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

diesel::allow_tables_to_appear_in_same_query!(users, clients, audit_log);
