//! Reading listings: the paging loop with its consistency checks, and the choice between
//! a listing per job and one project-wide listing for many jobs.

use std::collections::{HashMap, HashSet};

use super::store::{id_hash, identity, Kind};
use super::{End, JobRun, Run, Stop};
use crate::budget::Priority;
use crate::model::{Subtask, SubtaskStatus};
use crate::query::{SubtaskQuery, MAX_OFFSET};
use crate::source::{FetchedPage, JobsApi};
use crate::text::plural;

/// The `status` filter of a cheap poll: unfinished subtasks, and failed ones so failures
/// are reported as they happen. Finished successes are read once, by a full listing.
pub(crate) const FILTER: [SubtaskStatus; 3] = [
    SubtaskStatus::Waiting,
    SubtaskStatus::Running,
    SubtaskStatus::Failed,
];

/// Remembers what project-wide listings cost.
#[derive(Debug, Default)]
pub(crate) struct Planner {
    /// `total_count` of the last project-wide filtered listing.
    project_total: Option<u64>,
    /// Polls since it was measured.
    since_measured: u32,
    /// The project-wide listing cannot be used: its subtasks name no job, the service
    /// ignores its filter or refuses it, or its listings keep disagreeing.
    pub(super) unusable: bool,
    /// Project-wide listings in a row that could not be trusted.
    inconsistent: u32,
}

/// Filtered listings in a row that disagree with themselves before the filter is given up.
const FILTER_STRIKES: u32 = 2;

/// Listings in a row whose paging failed (a page adding nothing new, paging without end)
/// before a job ends with [`End::Inconsistent`].
const PAGING_FAULTS: u32 = 3;

/// Whether a permanent error of a request about one job is about that job alone (its ID,
/// its query) rather than the account or the service.
fn is_about_the_job(error: &crate::Error) -> bool {
    matches!(error.status(), Some(400 | 403 | 404 | 405))
}

/// What reading one listing found.
#[derive(Debug, Clone, Default)]
pub(crate) struct ListingRead {
    /// The pages agree with each other: the listing may support a verdict.
    pub consistent: bool,
    /// Why not, when not.
    pub reason: String,
    /// The paging itself failed: a page added nothing new, or paging did not end.
    pub paging_fault: bool,
    /// Read from the job's details: they showed unfinished a subtask the status-filtered
    /// listing had left out.
    pub filter_doubted: bool,
}

/// Which jobs a listing feeds.
enum Targets {
    One(usize),
    Many(HashMap<String, usize>),
}

/// Checks the subtasks a job's details hold inline as one full listing: each with a
/// usable, distinct ID, as many as `sub_jobs_total` says. Returns the check, and the IDs
/// (hashed) given to two different desktops, whose rows cannot be trusted.
pub(super) fn inline_listing(
    subtasks: &[Subtask],
    total: Option<u64>,
) -> (ListingRead, HashSet<u64>) {
    let mut seen: HashMap<u64, u64> = HashMap::new();
    let mut conflicts = HashSet::new();
    let mut problem = None;
    for subtask in subtasks {
        let Some(id) = subtask.id.as_deref().filter(|id| !id.is_empty()) else {
            problem.get_or_insert_with(|| "a subtask has no id".to_owned());
            continue;
        };
        let print = identity(subtask);
        if *seen.entry(id_hash(id)).or_insert(print) != print {
            conflicts.insert(id_hash(id));
            problem.get_or_insert_with(|| "two different desktops under one subtask ID".to_owned());
        }
    }
    let count = seen.len() as u64;
    if problem.is_none() && (total != Some(count) || count == 0) {
        problem = Some(format!(
            "{} inline where sub_jobs_total said {}",
            plural(count, "distinct subtask"),
            total.map_or("nothing".to_owned(), |t| t.to_string())
        ));
    }
    let read = ListingRead {
        consistent: problem.is_none(),
        reason: problem.unwrap_or_default(),
        paging_fault: false,
        filter_doubted: false,
    };
    (read, conflicts)
}

impl<A: JobsApi> Run<'_, '_, A> {
    /// Reads job `index`'s listing of `kind`. A 400, 403, 404 or 405 (the job's ID, or a
    /// job the caller may not see) ends this job alone; other errors stop the wait.
    pub(super) fn read_job_listing(
        &mut self,
        index: usize,
        kind: Kind,
        priority: Priority,
    ) -> Result<ListingRead, Stop> {
        let mut query = SubtaskQuery::builder()
            .job_id(self.jobs[index].id.as_str())
            .limit(self.config.page_size);
        if kind == Kind::Filtered {
            for status in FILTER {
                query = query.status(status);
            }
        }
        let query = query.build().map_err(Stop::Failed)?;
        self.blame = Some(index);
        let read = match self.read_listing(&query, kind, Targets::One(index), priority) {
            Err(Stop::Failed(error)) if is_about_the_job(&error) => {
                self.finish_job(index, End::Failed(error));
                return Ok(ListingRead::default());
            }
            other => other?,
        };
        self.blame = None;
        let max_faults = PAGING_FAULTS;
        let job = &mut self.jobs[index];
        job.listed = true;
        if read.paging_fault {
            job.paging_faults += 1;
            if job.paging_faults >= max_faults {
                let end = End::Inconsistent {
                    reads: job.paging_faults,
                    reason: read.reason.clone(),
                };
                self.finish_job(index, end);
                return Ok(read);
            }
        } else {
            job.paging_faults = 0;
        }
        if kind == Kind::Filtered {
            self.filtered_read(index, read.consistent);
        }
        Ok(read)
    }

    /// Counts the consistent and inconsistent filtered listings of job `index`: a service
    /// whose filtered listings keep disagreeing with themselves (a `total_count` taken
    /// before the filter, say) never lets subtasks leave the filter, and is listed in full
    /// from then on.
    fn filtered_read(&mut self, index: usize, consistent: bool) {
        let job = &mut self.jobs[index];
        if consistent {
            job.filtered_inconsistent = 0;
            return;
        }
        job.filtered_inconsistent += 1;
        if job.filtered_inconsistent >= FILTER_STRIKES && job.filter_trusted {
            log::warn!(
                "job {}: its status-filtered listings keep disagreeing with themselves; reading full listings from now on",
                job.id
            );
            job.filter_trusted = false;
        }
    }

    /// Reads one project-wide filtered listing for the jobs `project` (falling back to a
    /// listing per job when it cannot serve) and a filtered listing of their own for the
    /// jobs `own`, and returns the jobs whose filtered listing shows nothing unfinished,
    /// which a full read must now confirm (or, for a job never read in full, find).
    pub(super) fn read_filtered(
        &mut self,
        project: &[usize],
        own: &[usize],
    ) -> Result<Vec<usize>, Stop> {
        let mut per_job: Vec<usize> = own.to_vec();
        if project.is_empty() {
            self.listing.since_measured = self.listing.since_measured.saturating_add(1);
        } else if !self.read_project_wide(project)? {
            per_job.extend_from_slice(project);
        }
        for &index in &per_job {
            if self.jobs[index].is_active() {
                self.read_job_listing(index, Kind::Filtered, Priority::Routine)?;
            }
        }
        Ok(project
            .iter()
            .chain(own)
            .copied()
            .filter(|&i| {
                // Nothing unfinished listed: the job has finished, or waits for more
                // subtasks (then its details say when, on their own schedule).
                let job = &self.jobs[i];
                let standing = job.store.standing();
                job.is_active()
                    && standing.known > 0
                    && standing.pending == 0
                    && !self.awaits_details(i)
            })
            .collect())
    }

    /// Reads the project-wide filtered listing for the jobs `project`; whether it served.
    /// A service refusing it (400, 403, 404: one requiring a `job_id`, say) or failing it
    /// past its retries, or whose listings
    /// keep disagreeing, is not asked again.
    fn read_project_wide(&mut self, project: &[usize]) -> Result<bool, Stop> {
        self.blame = None;
        let targets = project
            .iter()
            .map(|&i| (self.jobs[i].id.clone(), i))
            .collect();
        let query = FILTER
            .iter()
            .fold(
                SubtaskQuery::builder().limit(self.config.page_size),
                |q, s| q.status(s.clone()),
            )
            .build()
            .map_err(Stop::Failed)?;
        let read = match self.read_listing(
            &query,
            Kind::Filtered,
            Targets::Many(targets),
            Priority::Routine,
        ) {
            Err(Stop::Failed(error)) if is_about_the_job(&error) => {
                log::warn!(
                    "the service refuses project-wide listings ({error}); listing each job on its own from now on"
                );
                self.listing.unusable = true;
                return Ok(false);
            }
            // Failing past its retries (the heaviest query of a busy service): each job
            // on its own; their own failures, if any, end the wait.
            Err(Stop::Failed(error)) if error.is_retryable() && !error.is_throttled() => {
                log::warn!(
                    "project-wide listings keep failing ({error}); listing each job on its own from now on"
                );
                self.listing.unusable = true;
                return Ok(false);
            }
            // Too long to page through: each job on its own, until it gets shorter.
            Err(Stop::Failed(crate::Error::OffsetLimit { total_count, .. })) => {
                self.listing.project_total = Some(total_count);
                self.listing.since_measured = 0;
                return Ok(false);
            }
            other => other?,
        };
        if read.consistent {
            self.listing.inconsistent = 0;
            return Ok(true);
        }
        log::debug!("project-wide listing not used: {}", read.reason);
        self.listing.inconsistent += 1;
        if self.listing.inconsistent >= FILTER_STRIKES {
            log::warn!(
                "the project-wide listings keep disagreeing with themselves; listing each job on its own from now on"
            );
            self.listing.unusable = true;
        }
        Ok(false)
    }

    /// Whether one project-wide filtered listing should read fewer pages than listing the
    /// jobs `indices` one by one; unmeasured (or measured long ago), it is worth one page
    /// to find out.
    pub(super) fn project_wide_is_cheaper(&self, indices: &[usize]) -> bool {
        if self.listing.unusable {
            return false;
        }
        let own: usize = indices.iter().map(|&i| self.own_pages(i)).sum();
        match self.listing.project_total {
            None => true,
            Some(_) if self.listing.since_measured >= super::REPROBE_POLLS => true,
            // Never one the service cannot page through.
            Some(total) if total > MAX_OFFSET => false,
            Some(total) => self.pages(usize::try_from(total).unwrap_or(usize::MAX)) < own,
        }
    }

    /// Reads every page of `query` into the stores of `targets`, checking that the pages
    /// agree (see the module documentation of the waiter for the rule).
    fn read_listing(
        &mut self,
        query: &SubtaskQuery,
        kind: Kind,
        targets: Targets,
        priority: Priority,
    ) -> Result<ListingRead, Stop> {
        let indices: Vec<usize> = match &targets {
            Targets::One(index) => vec![*index],
            Targets::Many(map) => map.values().copied().collect(),
        };
        for &index in &indices {
            self.jobs[index].store.begin(kind);
        }
        let mut problem: Option<String> = None;
        let mut total: Option<u64> = None;
        let mut max_total = 0u64;
        // Each ID's desktop as first listed; IDs a later row gives to another desktop.
        let mut distinct: HashMap<u64, u64> = HashMap::new();
        let mut conflicts: HashSet<u64> = HashSet::new();
        let mut entries = 0u64;
        let mut largest = 0usize;
        let mut short_page_at: Option<u64> = None;
        let mut paging_fault = false;
        let mut foreign = 0usize;
        let mut offset = query.offset();
        let mut pages = 0u32;
        let project_wide = matches!(targets, Targets::Many(_));
        loop {
            let page_query = query.with_offset(offset);
            let glitch_job = match &targets {
                Targets::One(index) if kind == Kind::Full && offset == 0 => Some(*index),
                _ => None,
            };
            // Once a listing is under way, its pages go stale while the next one waits.
            let priority = if pages > 0 {
                Priority::Important
            } else {
                priority
            };
            let fetched = self.fetch_listing_page(&page_query, priority, glitch_job)?;
            pages += 1;
            let page = fetched.page;
            let received = page.subtasks.len();
            match total {
                None => total = Some(page.total_count),
                Some(first) if first != page.total_count => {
                    problem.get_or_insert_with(|| {
                        format!(
                            "total_count changed from {first} to {} between pages",
                            page.total_count
                        )
                    });
                }
                Some(_) => {}
            }
            max_total = max_total.max(page.total_count);
            if let Some(at) = short_page_at {
                problem.get_or_insert_with(|| {
                    format!("the page at offset {at} was short but not the last")
                });
            }
            let ids: Vec<u64> = page
                .subtasks
                .iter()
                .map(|s| id_hash(s.id.as_deref().unwrap_or_default()))
                .collect();
            // A full page after the first that adds no subtask not already listed: the
            // service repeats itself (it ignores `offset`, say). Insertions between two
            // reads shift a few subtasks onto the next page, never a whole page (a short
            // last page may be all shifted ones: then the listing is only inconsistent).
            if pages > 1
                && received > 0
                && received >= largest
                && ids.iter().all(|id| distinct.contains_key(id))
            {
                paging_fault = true;
                problem.get_or_insert_with(|| {
                    format!(
                        "the page at offset {offset} repeated subtasks listed before it: does the service ignore `offset`?"
                    )
                });
                break;
            }
            let now = self.now();
            for subtask in page.subtasks {
                if subtask.id.as_deref().is_none_or(str::is_empty) {
                    problem
                        .get_or_insert_with(|| format!("a subtask at offset {offset} has no id"));
                    continue;
                }
                let hash = id_hash(subtask.id.as_deref().unwrap_or_default());
                let print = identity(&subtask);
                if *distinct.entry(hash).or_insert(print) != print {
                    conflicts.insert(hash);
                    problem.get_or_insert_with(|| {
                        "two different desktops listed under one subtask ID".to_owned()
                    });
                }
                let target = match (&targets, subtask.job_id.as_deref()) {
                    (Targets::One(index), None) => Some(*index),
                    (Targets::One(index), Some(job_id)) if job_id == self.jobs[*index].id => {
                        Some(*index)
                    }
                    (Targets::One(_), Some(_)) => None,
                    (Targets::Many(map), Some(job_id)) => map.get(job_id).copied(),
                    (Targets::Many(_), None) => {
                        if !self.listing.unusable {
                            log::warn!(
                                "the project-wide listing holds subtasks without a job_id: listing each job on its own from now on"
                            );
                        }
                        self.listing.unusable = true;
                        problem.get_or_insert_with(|| "a subtask names no job".to_owned());
                        None
                    }
                };
                let Some(index) = target else {
                    foreign += 1;
                    continue;
                };
                // Only a job's own reads (its listing, its details) say which subtasks are
                // its own: one row of a project-wide listing may name the wrong job. A
                // subtask new to the job sends the job to its own listing instead.
                if project_wide
                    && !self.jobs[index]
                        .store
                        .knows(subtask.id.as_deref().unwrap_or_default())
                {
                    self.jobs[index].unseen_rows = true;
                    continue;
                }
                if kind == Kind::Filtered
                    && !subtask.status.as_ref().is_some_and(|s| FILTER.contains(s))
                {
                    self.ignored_filter(index, project_wide);
                    problem
                        .get_or_insert_with(|| "the service ignored the status filter".to_owned());
                }
                self.jobs[index].store.stage(subtask, now);
            }
            entries += received as u64;
            largest = largest.max(received);
            if received == 0 {
                break;
            }
            let start = offset;
            offset += received as u64;
            let current_total = total.unwrap_or(0);
            if offset >= current_total && current_total > start {
                break;
            }
            if received < largest {
                short_page_at = Some(start);
            }
            // A listing longer than its pages can hold is not ending: a service that never
            // stops paging is caught here rather than after 10,000 offsets.
            let bound = max_total.div_ceil(largest.max(1) as u64).saturating_add(2);
            if u64::from(pages) >= bound {
                paging_fault = true;
                problem.get_or_insert_with(|| {
                    format!(
                        "paging did not end after {pages} pages of {}",
                        plural(max_total, "subtask")
                    )
                });
                break;
            }
            // Past the deepest offset the API pages to, or bound to pass it at this page
            // size: the listing cannot be read in full, so no page more is worth asking.
            if offset > MAX_OFFSET
                || current_total.saturating_sub(1) > MAX_OFFSET.saturating_add(largest as u64 - 1)
            {
                return Err(Stop::Failed(crate::Error::OffsetLimit {
                    offset,
                    total_count: current_total,
                }));
            }
            if project_wide && pages == 1 {
                // One page told the project's size: stop now if per-job listings are cheaper.
                self.listing.project_total = Some(current_total);
                self.listing.since_measured = 0;
                if !self.project_wide_is_cheaper(&indices) {
                    problem.get_or_insert_with(|| {
                        format!(
                            "the project lists {}",
                            plural(current_total, "unfinished subtask")
                        )
                    });
                    break;
                }
            }
        }
        if project_wide {
            self.listing.project_total = Some(max_total);
            self.listing.since_measured = 0;
        }
        if pages > 1 {
            self.page_size = largest.max(1);
        }
        let total = total.unwrap_or(0);
        if problem.is_none() && (distinct.len() as u64 != total || entries != total) {
            problem = Some(format!(
                "{} in {} where total_count said {total}",
                plural(distinct.len() as u64, "distinct subtask"),
                plural(entries, "row")
            ));
        }
        if foreign > 0 && !project_wide {
            self.warn_foreign(indices[0], foreign);
        }
        let consistent = problem.is_none();
        let now = self.now();
        let min_gap = self.config.poll.initial_interval;
        for &index in &indices {
            let transitions = self.jobs[index]
                .store
                .finish(consistent, now, min_gap, &conflicts);
            self.report(index, transitions);
            self.note_contradictions(index);
        }
        if let Targets::One(index) = targets {
            if !consistent && max_total > 0 {
                // A listing of the job's own that counts subtasks, even one that does not
                // add up: the job exists.
                self.jobs[index].store.glimpse();
            }
            if kind == Kind::Full && entries > 0 {
                // The listing shows subtasks again: a later empty answer is a glitch again.
                self.jobs[index].empty_accepted = false;
            }
        }
        Ok(ListingRead {
            consistent,
            reason: problem.unwrap_or_default(),
            paging_fault,
            filter_doubted: false,
        })
    }

    /// Fetches one page; for the first page of a full listing of job `glitch_job`, an
    /// empty answer while subtasks were seen unfinished is a glitch, retried like a
    /// truncated body (and taken as evidence only when it survives every retry).
    fn fetch_listing_page(
        &mut self,
        query: &SubtaskQuery,
        priority: Priority,
        glitch_job: Option<usize>,
    ) -> Result<FetchedPage, Stop> {
        let api = &self.waiter.api;
        // Only finished subtasks may be deleted, and a job whose every subtask was deleted
        // is far rarer than a glitch: an empty listing of a job whose subtasks were listed
        // is retried, whatever their state.
        let suspicious = glitch_job.and_then(|index| {
            let job: &JobRun = &self.jobs[index];
            let known = job.store.standing().known;
            (!job.empty_accepted && known > 0).then(|| (job.id.clone(), known))
        });
        let fetched = self.call(
            priority,
            |timeout| api.fetch_page(query, timeout),
            |fetched: &FetchedPage| fetched.bytes,
            |fetched: &FetchedPage| {
                let (job_id, known) = suspicious.as_ref()?;
                (fetched.page.subtasks.is_empty() && fetched.page.total_count == 0).then(|| {
                    format!(
                        "an empty listing of job {job_id} after it listed {}",
                        plural(*known as u64, "subtask")
                    )
                })
            },
        )?;
        if let (Some(index), true) = (glitch_job, suspicious.is_some()) {
            if fetched.page.subtasks.is_empty() && fetched.page.total_count == 0 {
                log::warn!(
                    "job {}: the listing stayed empty through every retry; taking it as evidence",
                    self.jobs[index].id
                );
                self.jobs[index].empty_accepted = true;
            }
        }
        Ok(fetched)
    }

    /// The service listed a subtask outside the status filter: it ignores the filter.
    fn ignored_filter(&mut self, index: usize, project_wide: bool) {
        if project_wide {
            if !self.listing.unusable {
                log::warn!(
                    "the service ignored the status filter of the project-wide listing: listing each job on its own from now on"
                );
            }
            self.listing.unusable = true;
            return;
        }
        let job = &mut self.jobs[index];
        if job.filter_trusted {
            log::warn!(
                "job {}: the service ignored the status filter; reading full listings from now on",
                job.id
            );
        }
        job.filter_trusted = false;
    }

    fn warn_foreign(&mut self, index: usize, foreign: usize) {
        let job = &mut self.jobs[index];
        if !std::mem::replace(&mut job.warned_foreign, true) {
            log::warn!(
                "job {}: the listing held {} of other jobs (the service ignored the job_id filter); ignoring them",
                job.id,
                plural(foreign as u64, "subtask")
            );
        }
    }
}
