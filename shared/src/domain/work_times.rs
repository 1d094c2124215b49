//! Weekly work times: hours per weekday.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

use super::FieldError;

/// A day of the week, in calendar order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Weekday {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl Weekday {
    pub const ALL: [Weekday; 7] = [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
        Weekday::Saturday,
        Weekday::Sunday,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Weekday::Monday => "Monday",
            Weekday::Tuesday => "Tuesday",
            Weekday::Wednesday => "Wednesday",
            Weekday::Thursday => "Thursday",
            Weekday::Friday => "Friday",
            Weekday::Saturday => "Saturday",
            Weekday::Sunday => "Sunday",
        }
    }

    pub fn parse(s: &str) -> Option<Weekday> {
        Weekday::ALL
            .into_iter()
            .find(|d| d.name().eq_ignore_ascii_case(s))
    }
}

/// Hours per weekday. Serialised as `{"Monday": 8.0, …}` in weekday order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WorkTimes(pub BTreeMap<Weekday, f64>);

impl WorkTimes {
    /// Validates a JSON object of day → hours.
    pub fn parse(value: &serde_json::Value) -> Result<WorkTimes, FieldError> {
        let obj = value
            .as_object()
            .ok_or_else(|| FieldError::new("work_times", "must be an object of weekday: hours"))?;
        WorkTimes::from_entries(
            obj.iter()
                .map(|(day, hours)| (day.as_str(), hours.as_f64())),
        )
    }

    /// Validates day → hours entries as sent (`None`: the hours are not a
    /// number): weekdays in any case, each once, at most 7, hours 0..=24.
    pub fn from_entries<'a>(
        entries: impl ExactSizeIterator<Item = (&'a str, Option<f64>)>,
    ) -> Result<WorkTimes, FieldError> {
        let bad = |m: String| FieldError::new("work_times", m);
        if entries.len() > 7 {
            return Err(bad(format!(
                "has {} entries; at most 7 (one per weekday)",
                entries.len()
            )));
        }
        let mut days = BTreeMap::new();
        for (key, hours) in entries {
            let day = Weekday::parse(key)
                .ok_or_else(|| bad(format!("`{key}` is not a weekday (Monday..Sunday)")))?;
            let h = hours.ok_or_else(|| bad(format!("{key}: hours must be a number")))?;
            if !(0.0..=24.0).contains(&h) {
                return Err(bad(format!("{key}: hours must be between 0 and 24")));
            }
            if days.insert(day, h).is_some() {
                return Err(bad(format!("{} appears more than once", day.name())));
            }
        }
        Ok(WorkTimes(days))
    }

    /// The stored form (JSON text), read back with [`WorkTimes::from_stored`].
    pub fn to_stored(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// Reads the stored form; anything unreadable is treated as empty.
    pub fn from_stored(s: &str) -> WorkTimes {
        serde_json::from_str::<serde_json::Value>(s)
            .ok()
            .and_then(|v| WorkTimes::parse(&v).ok())
            .unwrap_or_default()
    }
}

/// Whole hours are written as integers (`8`, not `8.0`; `-0` as `0`), as
/// the reference's encoder wrote its `float64`s, and others as decimals.
impl utoipa::PartialSchema for WorkTimes {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        let mut object = ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "Hours per weekday (0 to 24), keyed by the weekday's English name; \
                 sent in any case, answered capitalised, in weekday order",
            ))
            .additional_properties(Some(
                utoipa::openapi::schema::AdditionalProperties::FreeForm(false),
            ));
        for day in Weekday::ALL {
            object = object.property(
                day.name(),
                ObjectBuilder::new()
                    .schema_type(Type::Number)
                    .minimum(Some(0))
                    .maximum(Some(24)),
            );
        }
        object.into()
    }
}

impl utoipa::ToSchema for WorkTimes {}

impl Serialize for WorkTimes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (day, &hours) in &self.0 {
            // Hours are 0..=24 (checked by `parse`), so whole ones fit.
            if hours.fract() == 0.0 {
                map.serialize_entry(day.name(), &(hours.abs() as u64))?;
            } else {
                map.serialize_entry(day.name(), &hours)?;
            }
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn work_times_accept_weekdays_in_any_case_and_write_whole_hours_as_integers() {
        let v = json!({"monday": 8, "FRIDAY": 6.5, "Wednesday": -0.0, "sunday": 24.0});
        let w = WorkTimes::parse(&v).expect("valid");
        // As the reference's encoder wrote its float64s: `8`, not `8.0`.
        assert_eq!(
            serde_json::to_string(&w).expect("json"),
            r#"{"Monday":8,"Wednesday":0,"Friday":6.5,"Sunday":24}"#
        );
        assert_eq!(WorkTimes::from_stored(&w.to_stored()), w);
    }

    #[test]
    fn work_times_refuse_bad_days_hours_and_duplicates() {
        for bad in [
            json!({"Funday": 1}),
            json!({"Monday": 25}),
            json!({"Monday": -1}),
            json!({"Monday": "8"}),
            json!({"Monday": 1, "monday": 2}),
            json!([1, 2]),
        ] {
            let e = WorkTimes::parse(&bad).expect_err("invalid");
            assert_eq!(e.field, "work_times", "{bad}");
        }
    }

    #[test]
    fn a_whole_week_is_accepted_and_more_entries_than_days_refused_as_such() {
        let week = json!({"Monday": 8, "Tuesday": 8, "Wednesday": 8, "Thursday": 8,
                          "Friday": 8, "Saturday": 0, "Sunday": 0});
        assert!(WorkTimes::parse(&week).is_ok());
        let mut eight = week.clone();
        eight["monday"] = json!(1);
        let e = WorkTimes::parse(&eight).expect_err("eight entries");
        assert_eq!(e.message, "has 8 entries; at most 7 (one per weekday)");
    }
}
