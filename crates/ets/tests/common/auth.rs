//! Authentication in tests: a server with `auth.enabled`, users and API keys made through the
//! service layer (as `ets users create` does), roles granted on projects.

use ets::actor::Actor;
use ets::auth::{PrincipalKind, Role};
use ets::config::Config;
use ets::service::identity::{NewApiKey, NewUser};

use super::TestApp;

impl TestApp {
    /// A server with authentication on, after `adjust` changed the configuration.
    pub async fn start_with_auth(adjust: impl FnOnce(&mut Config)) -> TestApp {
        Self::start_with(|config| {
            config.auth.enabled = true;
            adjust(config);
        })
        .await
    }

    /// Creates a user (with `password`, else a generated one; a global admin with `admin`)
    /// and returns a new API key of theirs.
    pub async fn add_user(&self, name: &str, admin: bool, password: Option<&str>) -> String {
        self.create_principal(name, PrincipalKind::User, admin, password)
            .await;
        self.api_key(name).await
    }

    /// Creates a service account (API keys only: no password to hash).
    pub async fn add_service_account(&self, name: &str) {
        self.create_principal(name, PrincipalKind::ServiceAccount, false, None)
            .await;
    }

    async fn create_principal(
        &self,
        name: &str,
        kind: PrincipalKind,
        admin: bool,
        password: Option<&str>,
    ) {
        self.server
            .services
            .create_user(
                &Actor::System,
                NewUser {
                    name: name.to_owned(),
                    kind: Some(kind),
                    global_admin: admin,
                    password: password.map(str::to_owned),
                },
            )
            .await
            .unwrap_or_else(|e| panic!("creating user {name}: {e}"));
    }

    /// A new API key of `user` (the secret).
    pub async fn api_key(&self, user: &str) -> String {
        self.server
            .services
            .create_api_key(
                &Actor::System,
                NewApiKey {
                    user: Some(user.to_owned()),
                    ..Default::default()
                },
            )
            .await
            .unwrap_or_else(|e| panic!("creating an API key for {user}: {e}"))
            .key
    }

    /// Gives `user` `role` on `project`.
    pub async fn grant(&self, project: &str, user: &str, role: Role) {
        self.server
            .services
            .set_member(&Actor::System, project, user, Some(role))
            .await
            .unwrap_or_else(|e| panic!("granting {user} {role} on {project}: {e}"));
    }
}
