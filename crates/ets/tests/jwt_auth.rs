//! Bearer JWTs end to end: a token signed with the configured HS256 secret authenticates its
//! user (created on first sight), its groups grant project roles, and bad tokens answer 401.
//! The verifier's own checks (JWKS, OIDC, algorithms, rotation) are unit-tested in
//! `auth::jwt`.

mod common;

use common::TestApp;
use reqwest::StatusCode;
use serde_json::json;

common::on_both_databases!(jwt_users_authenticate_and_groups_grant_roles);

const SECRET: &str = "an-hs256-test-secret-of-at-least-32-bytes";

fn token(sub: &str, groups: &[&str], exp_offset: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = json!({
        "sub": sub, "iss": "https://idp.test", "aud": "ets",
        "exp": now + exp_offset, "iat": now, "groups": groups,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

async fn jwt_users_authenticate_and_groups_grant_roles() {
    let secret_dir = tempfile::tempdir().unwrap();
    let secret_file = secret_dir.path().join("hs256");
    std::fs::write(&secret_file, SECRET).unwrap();
    let app = TestApp::start_with(|c| {
        c.auth.enabled = true;
        c.auth.jwt.issuer = Some("https://idp.test".into());
        c.auth.jwt.audience = Some("ets".into());
        c.auth.jwt.hs256_secret_file = Some(secret_file.clone());
        c.auth.jwt.groups_claim = Some("groups".into());
        c.auth.jwt.group_roles = vec![ets::config::GroupRole {
            group: "vision".into(),
            project: "vision-project".into(),
            role: "editor".into(),
        }];
    })
    .await;
    let call = |method: reqwest::Method, path: &str, bearer: &str| {
        app.client
            .request(method, app.url(path))
            .header("authorization", format!("Bearer {bearer}"))
    };

    // A first token creates its user, who can create a project (and administers it).
    let carol = token("carol", &[], 300);
    let who = app
        .send(call(reqwest::Method::GET, "/api/v1/auth/whoami", &carol))
        .await;
    assert_eq!(who.status, StatusCode::OK, "{}", who.body);
    assert_eq!(who.body["user"], "carol");
    let project = app
        .send(
            call(reqwest::Method::POST, "/api/v1/projects", &carol)
                .json(&json!({"name": "vision-project"})),
        )
        .await;
    assert_eq!(project.status, StatusCode::CREATED, "{}", project.body);
    let project_id = project.id();

    // Dave has no membership: the project does not exist for him ...
    let dave = token("dave", &[], 300);
    let path = format!("/api/v1/projects/{project_id}");
    let hidden = app.send(call(reqwest::Method::GET, &path, &dave)).await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND, "{}", hidden.body);
    // ... until a token puts him in the group mapped to editor on it.
    let dave_in_group = token("dave", &["vision"], 301);
    let seen = app
        .send(call(reqwest::Method::GET, &path, &dave_in_group))
        .await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.body);
    let experiment = app
        .send(
            call(reqwest::Method::POST, "/api/v1/experiments", &dave_in_group)
                .json(&json!({"project_id": project_id, "name": "e1"})),
        )
        .await;
    assert_eq!(
        experiment.status,
        StatusCode::CREATED,
        "{}",
        experiment.body
    );
    // Editor is not admin: project settings stay refused.
    let settings = app
        .send(call(reqwest::Method::PUT, &path, &dave_in_group).json(&json!({"description": "x"})))
        .await;
    assert_eq!(settings.status, StatusCode::FORBIDDEN, "{}", settings.body);

    // Expired, wrongly signed and garbage tokens: 401 with a challenge.
    let expired = token("carol", &[], -3600);
    // A signature byte changed (a character in the middle, so no base64 padding bits).
    let mut forged = token("carol", &[], 300).into_bytes();
    let middle = forged.len() - 20;
    forged[middle] = if forged[middle] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    for bad in [expired.as_str(), forged.as_str(), "not-a-token"] {
        let reply = app
            .send(call(reqwest::Method::GET, "/api/v1/projects", bad))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{bad}: {}",
            reply.body
        );
        assert!(reply.headers.contains_key("www-authenticate"));
    }
}
