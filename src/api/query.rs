//! The query parameters of a management route, read one way for all of
//! them: each known name at most once, anything else refused by name. A
//! repeated filter (`?status=active&status=revoked`) has no one meaning, and
//! a misspelt one silently ignored would widen a listing.

use crate::core::time::parse_instant;
use crate::error::{ApiError, ApiResult};
use crate::store::Cursor;

pub struct Query(Vec<(String, String)>);

impl Query {
    /// Decodes `query` (the URL's, without `?`) against the route's `known`
    /// names: an unknown or repeated name is a 400 naming it.
    pub fn parse(query: Option<&str>, known: &[&str]) -> ApiResult<Query> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            if !known.contains(&k.as_ref()) {
                let list = known.join(", ");
                return Err(ApiError::field(
                    &k,
                    format!("is not a known query parameter ({list})"),
                ));
            }
            if pairs.iter().any(|(seen, _)| *seen == k) {
                return Err(ApiError::field(&k, "is given more than once"));
            }
            pairs.push((k.into_owned(), v.into_owned()));
        }
        Ok(Query(pairs))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn string(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_owned)
    }

    /// `name` read by `parse`, or a 400 saying what it `must` be.
    pub fn parsed<T>(
        &self,
        name: &str,
        must: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> ApiResult<Option<T>> {
        self.get(name)
            .map(|v| parse(v).ok_or_else(|| ApiError::field(name, must)))
            .transpose()
    }

    /// `limit`: 1 to `max`, `default` when absent.
    pub fn limit(&self, default: u32, max: u32) -> ApiResult<u32> {
        let must = format!("must be a whole number from 1 to {max}");
        let n = self.parsed("limit", &must, |v| {
            v.parse::<u32>().ok().filter(|n| (1..=max).contains(n))
        })?;
        Ok(n.unwrap_or(default))
    }

    /// `cursor`, as a previous page's `next_cursor` gave it.
    pub fn cursor(&self) -> ApiResult<Option<Cursor>> {
        self.parsed(
            "cursor",
            "is not a cursor this API returned",
            Cursor::decode,
        )
    }

    /// An instant, as epoch milliseconds or RFC 3339.
    pub fn instant(&self, name: &str) -> ApiResult<Option<i64>> {
        self.parsed(
            name,
            "must be epoch milliseconds or an RFC 3339 time",
            parse_instant,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[&str] = &["status", "limit", "since"];

    fn refused(query: &str) -> (String, String) {
        let e = Query::parse(Some(query), KNOWN).err().expect(query);
        (e.param.unwrap_or_default(), e.message)
    }

    #[test]
    fn reads_each_known_name_once() {
        let q = Query::parse(Some("status=active&limit=5&since=1000"), KNOWN).unwrap();
        assert_eq!(q.get("status"), Some("active"));
        assert_eq!(q.limit(50, 200).unwrap(), 5);
        assert_eq!(q.instant("since").unwrap(), Some(1000));
        let empty = Query::parse(None, KNOWN).unwrap();
        assert_eq!(empty.limit(50, 200).unwrap(), 50);
        assert_eq!(empty.instant("since").unwrap(), None);
    }

    #[test]
    fn refuses_unknown_and_repeated_names_by_name() {
        let (param, message) = refused("stauts=active");
        assert_eq!(param, "stauts");
        assert!(message.contains("status, limit, since"), "{message}");
        assert_eq!(refused("status=active&status=revoked").0, "status");
        // Decoded before comparing: an encoded name is the same name.
        assert_eq!(refused("status=active&%73tatus=revoked").0, "status");
        assert_eq!(refused("limit=5&limit=5").0, "limit");
    }

    #[test]
    fn refuses_bad_values_naming_the_parameter() {
        let q = Query::parse(Some("limit=0&since=yesterday"), KNOWN).unwrap();
        assert_eq!(
            q.limit(50, 200).unwrap_err().param.as_deref(),
            Some("limit")
        );
        assert_eq!(
            q.instant("since").unwrap_err().param.as_deref(),
            Some("since")
        );
        let big = Query::parse(Some("limit=201"), KNOWN).unwrap();
        assert!(big.limit(50, 200).is_err());
    }
}
