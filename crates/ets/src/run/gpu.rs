//! GPU usage through NVIDIA's management library (NVML, what `nvidia-smi` reads), loaded when
//! `ets run` starts (`nvml-wrapper` opens `libnvidia-ml.so` with `libloading`): without an
//! NVIDIA driver there is nothing to load and no GPU metric, and ETS needs no CUDA to build.
//!
//! Per device `i`, as MLflow and W&B record them: `system/gpu_<i>_utilization_percent`,
//! `system/gpu_<i>_memory_used_bytes`, `system/gpu_<i>_memory_percent`, and when the device
//! reports them `system/gpu_<i>_power_watts` and `system/gpu_<i>_temperature_c`.

use nvml_wrapper::Nvml;
use nvml_wrapper::enum_wrappers::device::TemperatureSensor;

/// The machine's NVIDIA GPUs, if NVML could be loaded.
pub struct Gpus {
    nvml: Option<Nvml>,
    count: u32,
}

impl Gpus {
    /// Loads NVML; no library, no driver or no device leaves nothing to sample.
    pub fn open() -> Gpus {
        match Nvml::init() {
            Ok(nvml) => {
                let count = nvml.device_count().unwrap_or(0);
                Gpus {
                    nvml: Some(nvml),
                    count,
                }
            }
            Err(_) => Gpus {
                nvml: None,
                count: 0,
            },
        }
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    /// Each device's values now; a value a device does not report is left out.
    pub fn sample(&self, out: &mut Vec<(String, f64)>) {
        let Some(nvml) = &self.nvml else {
            return;
        };
        for index in 0..self.count {
            let Ok(device) = nvml.device_by_index(index) else {
                continue;
            };
            let key = |name: &str| format!("system/gpu_{index}_{name}");
            if let Ok(rates) = device.utilization_rates() {
                out.push((key("utilization_percent"), f64::from(rates.gpu)));
            }
            if let Ok(memory) = device.memory_info()
                && memory.total > 0
            {
                out.push((key("memory_used_bytes"), memory.used as f64));
                out.push((
                    key("memory_percent"),
                    100.0 * memory.used as f64 / memory.total as f64,
                ));
            }
            if let Ok(milliwatts) = device.power_usage() {
                out.push((key("power_watts"), f64::from(milliwatts) / 1000.0));
            }
            if let Ok(celsius) = device.temperature(TemperatureSensor::Gpu) {
                out.push((key("temperature_c"), f64::from(celsius)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where NVML cannot be loaded (this machine and CI have no NVIDIA driver), sampling
    /// records nothing and fails nothing; with a driver, every device gives its values.
    #[test]
    fn samples_what_the_machine_has() {
        let gpus = Gpus::open();
        let mut out = Vec::new();
        gpus.sample(&mut out);
        if gpus.count() == 0 {
            assert!(out.is_empty(), "{out:?}");
        } else {
            for index in 0..gpus.count() {
                let name = format!("system/gpu_{index}_utilization_percent");
                assert!(out.iter().any(|(k, _)| *k == name), "{out:?}");
            }
        }
    }
}
