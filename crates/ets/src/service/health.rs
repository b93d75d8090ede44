//! Health of ETS itself and of the sibling MLOps services.
//!
//! Readiness depends only on our own database and artifact storage. The sibling services are
//! probed concurrently with a short timeout and the result is cached for a few seconds, so a
//! load balancer polling `/health` never turns into a flood of probes, and a dead sibling
//! never makes ETS look unhealthy.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::Serialize;
use utoipa::ToSchema;

use super::Services;
use crate::config::ServicesConfig;
use crate::database_url::redact_url;

/// State of one sibling service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DependencyState {
    Up,
    Down,
    NotConfigured,
}

/// Probe result for one sibling service.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DependencyHealth {
    pub name: String,
    pub url: Option<String>,
    pub status: DependencyState,
    pub latency_ms: Option<f64>,
    pub error: Option<String>,
}

/// One of our own components.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ComponentHealth {
    /// `up` or `down`.
    pub status: DependencyState,
    pub latency_ms: f64,
    pub error: Option<String>,
}

/// `GET /health`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct HealthReport {
    /// `healthy` when the database and storage work, otherwise `unhealthy`.
    pub status: String,
    pub service: String,
    pub version: String,
    pub uptime_seconds: u64,
    pub database: ComponentHealth,
    pub storage: ComponentHealth,
    /// Sibling MLOps services (informational; they never make ETS unhealthy).
    pub dependencies: Vec<DependencyHealth>,
}

/// Probes sibling services, caching results.
pub struct HealthChecker {
    /// Built at the first probe of a configured service (building a client loads and parses
    /// the system's root certificates, ~3 ms, which a server without siblings never needs).
    client: OnceLock<reqwest::Client>,
    probe_timeout: Duration,
    targets: Vec<(&'static str, Option<String>)>,
    cache_for: Duration,
    cached: Mutex<Option<(Instant, Vec<DependencyHealth>)>>,
}

impl HealthChecker {
    pub fn new(config: &ServicesConfig) -> Self {
        HealthChecker {
            client: OnceLock::new(),
            probe_timeout: Duration::from_millis(config.probe_timeout_ms),
            targets: [
                ("model_registry", &config.model_registry_url),
                ("pipeline_orchestrator", &config.pipeline_orchestrator_url),
                ("feature_store", &config.feature_store_url),
            ]
            .map(|(name, url)| (name, url.as_ref().map(|u| u.expose().to_owned())))
            .to_vec(),
            cache_for: Duration::from_millis(config.probe_cache_ms),
            cached: Mutex::new(None),
        }
    }

    fn client(&self) -> &reqwest::Client {
        self.client.get_or_init(|| {
            crate::install_crypto_provider();
            reqwest::Client::builder()
                .timeout(self.probe_timeout)
                .connect_timeout(self.probe_timeout)
                .build()
                .expect("an HTTP client with only timeouts set always builds")
        })
    }

    /// The configured sibling services as (name, URL).
    pub fn targets(&self) -> &[(&'static str, Option<String>)] {
        &self.targets
    }

    /// Current state of every sibling service (cached for `probe_cache_ms`).
    pub async fn dependencies(&self) -> Vec<DependencyHealth> {
        if let Some((at, result)) = self
            .cached
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            && at.elapsed() < self.cache_for
        {
            return result.clone();
        }
        let probes = self
            .targets
            .iter()
            .map(|(name, url)| self.probe(name, url.as_deref()));
        let result = futures_util::future::join_all(probes).await;
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((Instant::now(), result.clone()));
        result
    }

    async fn probe(&self, name: &str, url: Option<&str>) -> DependencyHealth {
        let Some(url) = url else {
            return DependencyHealth {
                name: name.to_owned(),
                url: None,
                status: DependencyState::NotConfigured,
                latency_ms: None,
                error: None,
            };
        };
        let started = Instant::now();
        let health_url = format!("{}/health", url.trim_end_matches('/'));
        let outcome = self.client().get(&health_url).send().await;
        // `/health` is open to anyone: a password in the configured URL is never shown.
        let health_url = redact_url(&health_url);
        let latency_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
        let (status, error) = match outcome {
            Ok(response) if response.status().is_success() => (DependencyState::Up, None),
            Ok(response) => (
                DependencyState::Down,
                Some(format!("{health_url} answered {}", response.status())),
            ),
            Err(e) if e.is_timeout() => (
                DependencyState::Down,
                Some(format!("{health_url} timed out")),
            ),
            Err(e) => (DependencyState::Down, Some(format!("{health_url}: {e}"))),
        };
        DependencyHealth {
            name: name.to_owned(),
            url: Some(redact_url(url)),
            status,
            latency_ms,
            error,
        }
    }
}

async fn timed<F: std::future::Future<Output = crate::error::Result<()>>>(
    check: F,
) -> ComponentHealth {
    let started = Instant::now();
    let outcome = check.await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    match outcome {
        Ok(()) => ComponentHealth {
            status: DependencyState::Up,
            latency_ms,
            error: None,
        },
        Err(e) => ComponentHealth {
            status: DependencyState::Down,
            latency_ms,
            error: Some(e.to_string()),
        },
    }
}

impl Services {
    /// Database and storage checks: what readiness means.
    pub async fn readiness(&self) -> (ComponentHealth, ComponentHealth) {
        tokio::join!(
            timed(self.store.ping()),
            timed(self.artifacts.check_writable())
        )
    }

    /// The full report of `/health`.
    pub async fn health_report(&self) -> HealthReport {
        let ((database, storage), dependencies) =
            tokio::join!(self.readiness(), self.health.dependencies());
        let healthy =
            database.status == DependencyState::Up && storage.status == DependencyState::Up;
        HealthReport {
            status: if healthy { "healthy" } else { "unhealthy" }.to_owned(),
            service: "ets".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            uptime_seconds: self.started.elapsed().as_secs(),
            database,
            storage,
            dependencies,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Environment};
    use crate::database_url::SecretUrl;

    /// No sibling service configured: `/health` never builds the HTTP client (whose root
    /// certificates cost start-up time and memory); a configured one is probed with it.
    #[tokio::test]
    async fn the_probe_client_is_built_at_the_first_configured_probe() {
        let config = Config::defaults(Environment::Dev).services;
        let checker = HealthChecker::new(&config);
        let dependencies = checker.dependencies().await;
        assert_eq!(dependencies.len(), 3);
        assert!(
            dependencies
                .iter()
                .all(|d| d.status == DependencyState::NotConfigured)
        );
        assert!(checker.client.get().is_none());

        // Nothing listens on port 9 of the loopback: the probe fails, but it was made.
        let config = ServicesConfig {
            model_registry_url: Some(SecretUrl::new("http://127.0.0.1:9")),
            probe_timeout_ms: 500,
            ..config
        };
        let checker = HealthChecker::new(&config);
        assert!(checker.client.get().is_none());
        let dependencies = checker.dependencies().await;
        assert_eq!(dependencies[0].status, DependencyState::Down);
        assert!(checker.client.get().is_some());
    }
}
