//! The archive's files as DataFusion lists them: the local file system, minus files that a
//! compaction superseded.
//!
//! Compaction leaves the files it merged on disk for a grace period, beside the merged file
//! that holds their rows, so that a query which listed them just before can still read them.
//! A listing made now must not return both: [`ArchiveStore`] applies `schemas::archive::visible`
//! to every listing, per directory, and passes everything else to [`LocalFileSystem`]
//! unchanged. Files not named like archive parts are listed as they are.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;

use async_trait::async_trait;
use datafusion::object_store::local::LocalFileSystem;
use datafusion::object_store::path::Path;
use datafusion::object_store::{
    CopyOptions, Error, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use schemas::archive::{PartName, visible};

/// The local file system, listing only the files a reader should use.
#[derive(Debug, Default)]
pub struct ArchiveStore {
    inner: LocalFileSystem,
}

impl fmt::Display for ArchiveStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ArchiveStore({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for ArchiveStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> Result<Vec<bytes::Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let listing = self.inner.list(prefix);
        futures::stream::once(async move {
            let objects: Result<Vec<ObjectMeta>> = listing.try_collect().await;
            objects.map(|objects| {
                futures::stream::iter(only_visible(objects).into_iter().map(Ok::<_, Error>))
            })
        })
        .try_flatten()
        .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let mut listed = self.inner.list_with_delimiter(prefix).await?;
        listed.objects = only_visible(listed.objects);
        Ok(listed)
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

/// `objects` without the archive parts that another part of the same directory supersedes.
fn only_visible(objects: Vec<ObjectMeta>) -> Vec<ObjectMeta> {
    let part = |object: &ObjectMeta| object.location.filename().and_then(PartName::parse);
    let directory = |object: &ObjectMeta| {
        let text = object.location.as_ref();
        text.rsplit_once('/').map_or("", |(dir, _)| dir).to_owned()
    };
    let mut names: BTreeMap<String, Vec<PartName>> = BTreeMap::new();
    for object in &objects {
        if let Some(name) = part(object) {
            names.entry(directory(object)).or_default().push(name);
        }
    }
    let keep: BTreeMap<String, BTreeSet<PartName>> = names
        .into_iter()
        .map(|(dir, names)| (dir, visible(names).into_iter().collect()))
        .collect();
    objects
        .into_iter()
        .filter(|object| match part(object) {
            Some(name) => keep
                .get(&directory(object))
                .is_some_and(|set| set.contains(&name)),
            None => true,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(path: &str) -> ObjectMeta {
        ObjectMeta {
            location: Path::from(path),
            last_modified: chrono::DateTime::UNIX_EPOCH,
            size: 1,
            e_tag: None,
            version: None,
        }
    }

    #[test]
    fn a_merged_file_hides_what_it_merged_in_its_directory_only() {
        let listed = vec![
            object("a/events/date=2026-11-26/part-0-0-9.parquet"),
            object("a/events/date=2026-11-26/part-0-10-19.parquet"),
            object("a/events/date=2026-11-26/part-0-0-19.parquet"),
            object("a/events/date=2026-11-27/part-0-5-6.parquet"),
            object("a/events/date=2026-11-26/notes.txt"),
        ];
        let kept: Vec<String> = only_visible(listed)
            .into_iter()
            .map(|o| o.location.to_string())
            .collect();
        assert_eq!(
            kept,
            [
                "a/events/date=2026-11-26/part-0-0-19.parquet",
                "a/events/date=2026-11-27/part-0-5-6.parquet",
                "a/events/date=2026-11-26/notes.txt",
            ]
        );
    }
}
