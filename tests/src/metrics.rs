//! Reading Prometheus exposition text as a scraper does: parsed by the
//! `openmetrics-parser` crate (a parser built on the format's grammar, not
//! ours), with the lookups the metrics tests need.

use openmetrics_parser::prometheus::parse_prometheus;
use openmetrics_parser::{HistogramValue, MetricsExposition, PrometheusType, PrometheusValue};

/// One scrape, parsed.
pub struct Metrics {
    pub text: String,
    pub exposition: MetricsExposition<PrometheusType, PrometheusValue>,
}

impl Metrics {
    /// Parses `text`; panics when the parser refuses it.
    pub fn parse(text: &str) -> Metrics {
        let exposition = parse_prometheus(text)
            .unwrap_or_else(|e| panic!("not the Prometheus text format ({e}):\n{text}"));
        Metrics {
            text: text.to_owned(),
            exposition,
        }
    }

    /// The values of the samples of family `name` whose labels include
    /// `labels`.
    fn matching<'a>(
        &'a self,
        name: &str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a PrometheusValue> + 'a {
        self.exposition
            .families
            .get(name)
            .into_iter()
            .flat_map(|family| family.iter_samples())
            .filter(move |sample| {
                sample.get_labelset().is_ok_and(|set| {
                    labels
                        .iter()
                        .all(|(k, v)| set.get_label_value(k) == Some(*v))
                })
            })
            .map(|sample| &sample.value)
    }

    /// The sum of the counters or gauges named `name` whose labels
    /// include `labels` (0 when there are none).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        // A counter's family is named without its `_total`.
        let family = name
            .strip_suffix("_total")
            .filter(|f| self.exposition.families.contains_key(*f));
        self.matching(family.unwrap_or(name), labels)
            .map(|value| match value {
                PrometheusValue::Counter(c) => c.value.as_f64(),
                PrometheusValue::Gauge(v) | PrometheusValue::Unknown(v) => v.as_f64(),
                other => panic!("{name} is not a counter or gauge: {other:?}"),
            })
            .sum()
    }

    /// The histograms named `name` whose labels include `labels`.
    fn histograms<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a HistogramValue> + 'a {
        self.matching(name, labels).map(move |value| match value {
            PrometheusValue::Histogram(h) => h,
            other => panic!("{name} is not a histogram: {other:?}"),
        })
    }

    /// How many observations the histograms named `name` whose labels
    /// include `labels` hold.
    pub fn observations(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.histograms(name, labels)
            .map(|h| {
                h.buckets
                    .iter()
                    .find(|b| b.upper_bound.is_infinite())
                    .map_or(0.0, |b| b.count.as_f64())
            })
            .sum()
    }

    /// The sum of what the histograms named `name` whose labels include
    /// `labels` observed.
    pub fn observed_sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.histograms(name, labels)
            .map(|h| h.sum.as_ref().map_or(0.0, |s| s.as_f64()))
            .sum()
    }

    /// The family named `name` (a counter's with or without `_total`):
    /// its kind and help.
    pub fn family(&self, name: &str) -> Option<(String, String)> {
        let families = &self.exposition.families;
        let family = families
            .get(name)
            .or_else(|| name.strip_suffix("_total").and_then(|f| families.get(f)))?;
        Some((family.family_type.to_string(), family.help.clone()))
    }

    /// The kind of the family named `name`.
    pub fn kind(&self, name: &str) -> Option<String> {
        self.family(name).map(|(kind, _)| kind)
    }

    /// Every value of label `label` in the scrape.
    pub fn label_values(&self, label: &str) -> Vec<String> {
        self.exposition
            .families
            .values()
            .flat_map(|family| family.iter_samples())
            .filter_map(|sample| {
                sample
                    .get_labelset()
                    .ok()
                    .and_then(|set| set.get_label_value(label).map(str::to_owned))
            })
            .collect()
    }
}

/// `GET http://{addr}/metrics` with `headers`: status and body (status 0
/// when nothing answers).
pub async fn fetch(addr: std::net::SocketAddr, headers: &[(&str, &str)]) -> (u16, String) {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let mut request = hyper::Request::get(format!("http://{addr}/metrics"));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let request = request
        .body(http_body_util::Full::new(hyper::body::Bytes::new()))
        .expect("request");
    // Status 0: nothing listens (yet).
    let response = match client.request(request).await {
        Ok(response) => response,
        Err(e) => return (0, e.to_string()),
    };
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}
