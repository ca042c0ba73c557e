//! Paged reads: one page of records and where the next one starts, the same shape for
//! a store query, a repository listing and a service's answer; and the loop that reads
//! every page, written once.

use std::future::Future;

use super::item_store::Item;

/// One page of results in order, and the opaque cursor of the next page.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T = Item> {
    /// The records of this page.
    pub items: Vec<T>,
    /// Pass back to continue; None when nothing follows.
    pub cursor: Option<String>,
}

impl<T> Default for Page<T> {
    fn default() -> Self {
        Self { items: Vec::new(), cursor: None }
    }
}

impl<T> Page<T> {
    /// A page of `items` followed by `cursor`.
    pub fn new(items: Vec<T>, cursor: Option<String>) -> Self {
        Self { items, cursor }
    }

    /// The same page with every record converted (decoding stored items, typically);
    /// the first failure fails the page.
    pub fn try_map<U, E>(self, f: impl FnMut(T) -> Result<U, E>) -> Result<Page<U>, E> {
        Ok(Page { items: self.items.into_iter().map(f).collect::<Result<_, _>>()?, cursor: self.cursor })
    }
}

/// Reads every page, from the first, handing each page's records to `visit`.
pub async fn for_each_page<T, E, Fut>(
    mut fetch: impl FnMut(Option<String>) -> Fut,
    mut visit: impl FnMut(Vec<T>) -> Result<(), E>,
) -> Result<(), E>
where
    Fut: Future<Output = Result<Page<T>, E>>,
{
    let mut cursor = None;
    loop {
        let page = fetch(cursor).await?;
        visit(page.items)?;
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(()),
        }
    }
}

/// Every record of every page, in order.
pub async fn all_pages<T, E, Fut>(fetch: impl FnMut(Option<String>) -> Fut) -> Result<Vec<T>, E>
where
    Fut: Future<Output = Result<Page<T>, E>>,
{
    let mut out = Vec::new();
    for_each_page(fetch, |items| {
        out.extend(items);
        Ok(())
    })
    .await?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pages of `size` over 0..n, the cursor being the next start.
    async fn numbers(n: u32, size: u32, cursor: Option<String>) -> Result<Page<u32>, String> {
        let start: u32 = cursor.map_or(Ok(0), |c| c.parse().map_err(|_| "bad cursor".to_owned()))?;
        let end = (start + size).min(n);
        Ok(Page::new((start..end).collect(), (end < n).then(|| end.to_string())))
    }

    #[tokio::test]
    async fn all_pages_reads_to_the_end_in_order() {
        assert_eq!(all_pages(|c| numbers(7, 3, c)).await, Ok((0..7).collect::<Vec<_>>()));
        assert_eq!(all_pages(|c| numbers(0, 3, c)).await, Ok(Vec::new()));
    }

    #[tokio::test]
    async fn a_failing_visit_or_fetch_stops_the_loop() {
        let mut seen = 0;
        let out = for_each_page(
            |c| numbers(10, 2, c),
            |items| {
                seen += items.len();
                if seen >= 4 {
                    Err("enough".to_owned())
                } else {
                    Ok(())
                }
            },
        )
        .await;
        assert_eq!((out, seen), (Err("enough".to_owned()), 4));
        let broken = all_pages(|_| async { Err::<Page<u32>, _>("down".to_owned()) }).await;
        assert_eq!(broken, Err("down".to_owned()));
    }

    #[test]
    fn try_map_keeps_the_cursor_and_fails_on_the_first_error() {
        let page = Page::new(vec!["1", "2"], Some("c".to_owned()));
        assert_eq!(page.clone().try_map(|s| s.parse::<u8>()), Ok(Page::new(vec![1, 2], Some("c".to_owned()))));
        assert!(Page::new(vec!["x"], None).try_map(|s| s.parse::<u8>()).is_err());
    }
}
