using Hotpath.Pprof;
using Hotpath.Pprof.Analysis;
using Hotpath.Pprof.Conversions;
using Hotpath.Pprof.Proto;
using Hotpath.Storage;

namespace Hotpath.Service.Query;

/// <summary>
/// The questions Grafana's Pyroscope data source asks, by label selector and Pyroscope type id rather than by one
/// service and type: which types and labels exist, and the merge of everything a selector picks across services.
/// Merges read the stores' pre-merged pieces exactly as the profefe merge does, so no range is too long.
/// </summary>
public sealed class SelectorQueries(IProfileReader reader, MergeService merger)
{
    /// <summary>The services the selector's <c>service_name</c> matchers pick.</summary>
    public async Task<IReadOnlyList<string>> ServicesAsync(LabelSelector selector, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(selector);
        if (selector.Service is { } service)
            return selector.MatchesService(service) ? [service] : [];
        return [.. (await reader.ListServicesAsync(cancellationToken).ConfigureAwait(false)).Where(selector.MatchesService)];
    }

    /// <summary>
    /// The Pyroscope type ids of what the services hold between the times (Unix nanoseconds), per service; a type
    /// shows as each of its sample types' ids, beside the stored type they are of. Only types the selector's
    /// <c>__profile_type__</c> matchers pass.
    /// </summary>
    public async Task<IReadOnlyList<(string Service, ProfileType Stored, PyroscopeTypeId Type)>> TypesAsync(LabelSelector selector, long from, long to,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(selector);
        var found = new List<(string, ProfileType, PyroscopeTypeId)>();
        foreach (var service in await ServicesAsync(selector, cancellationToken).ConfigureAwait(false))
        {
            foreach (var type in ProfileTypes.Mergeable)
            {
                var ids = PyroscopeTypeId.For(type).Where(id => selector.TypeMatchers.All(m => m.Matches(id.Id))).ToList();
                if (ids.Count == 0)
                    continue;
                var query = new ProfileQuery(service, type, from, to, selector.RequiredLabels, Limit: 1, Filter: selector.Filter);
                if ((await reader.FindAsync(query, cancellationToken).ConfigureAwait(false)).Count > 0)
                    found.AddRange(ids.Select(id => (service, type, id)));
            }
        }

        return found;
    }

    private const long StatsResolution = 3_600_000_000_000;

    /// <summary>
    /// Pyroscope's profile stats, which Drilldown asks on load to tell "no data yet" from data: whether any profile
    /// is stored up to <paramref name="now"/> (Unix nanoseconds), and the times of the oldest and the newest (to
    /// the hour, as Pyroscope answers to its blocks'); null when none is.
    /// </summary>
    public async Task<(long Oldest, long Newest)?> StatsAsync(long now, CancellationToken cancellationToken)
    {
        (long Oldest, long Newest)? stats = null;
        foreach (var service in await reader.ListServicesAsync(cancellationToken).ConfigureAwait(false))
        {
            foreach (var type in ProfileTypes.All)
            {
                // Hourly points: the stores answer them from pieces, at fleet scale too.
                var points = await reader.SeriesAsync(new ProfileQuery(service, type, 0, now, []), StatsResolution, cancellationToken).ConfigureAwait(false);
                foreach (var point in points)
                {
                    stats = stats is var (oldest, newest)
                        ? (Math.Min(oldest, point.TimeUnixNanos), Math.Max(newest, point.TimeUnixNanos))
                        : (point.TimeUnixNanos, point.TimeUnixNanos);
                }
            }
        }

        return stats;
    }

    /// <summary>The label names of what the selector picks: <c>service_name</c>, <c>__profile_type__</c> and the profiles' own.</summary>
    public async Task<IReadOnlyList<string>> LabelNamesAsync(LabelSelector selector, long from, long to, CancellationToken cancellationToken)
    {
        var names = new SortedSet<string>(StringComparer.Ordinal) { LabelSelector.ServiceLabel, LabelSelector.ProfileTypeLabel, "__name__" };
        foreach (var (service, labels) in await LabelsAsync(selector, from, to, cancellationToken).ConfigureAwait(false))
            names.UnionWith(labels.Select(l => l.Key));
        return [.. names];
    }

    /// <summary>The values one label takes in what the selector picks, sorted.</summary>
    public async Task<IReadOnlyList<string>> LabelValuesAsync(string name, LabelSelector selector, long from, long to, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(name);
        var values = new SortedSet<string>(StringComparer.Ordinal);
        switch (name)
        {
            case LabelSelector.ServiceLabel:
                values.UnionWith((await TypesAsync(selector, from, to, cancellationToken).ConfigureAwait(false)).Select(t => t.Service));
                break;
            case LabelSelector.ProfileTypeLabel:
                values.UnionWith((await TypesAsync(selector, from, to, cancellationToken).ConfigureAwait(false)).Select(t => t.Type.Id));
                break;
            case "__name__":
                values.UnionWith((await TypesAsync(selector, from, to, cancellationToken).ConfigureAwait(false)).Select(t => t.Type.Name));
                break;
            default:
                foreach (var (_, labels) in await LabelsAsync(selector, from, to, cancellationToken).ConfigureAwait(false))
                    values.UnionWith(labels.Where(l => l.Key == name).Select(l => l.Value));
                break;
        }

        return [.. values];
    }

    /// <summary>
    /// The label pairs of each picked service: all its pairs when the selector matches on its service only, else
    /// those of the label sets the selector passes (read from the series grouped by each key, which the stores
    /// answer from their pieces).
    /// </summary>
    private async Task<List<(string Service, IReadOnlyList<ProfileLabel> Labels)>> LabelsAsync(LabelSelector selector, long from, long to,
        CancellationToken cancellationToken)
    {
        var result = new List<(string, IReadOnlyList<ProfileLabel>)>();
        var filtered = selector.LabelMatchers.Any() || selector.TypeMatchers.Any();
        // Which types each service holds, asked once for every service.
        var stored = filtered ? await TypesAsync(selector, from, to, cancellationToken).ConfigureAwait(false) : [];
        foreach (var service in await ServicesAsync(selector, cancellationToken).ConfigureAwait(false))
        {
            var all = await reader.ListLabelsAsync(service, cancellationToken).ConfigureAwait(false);
            if (!filtered)
            {
                result.Add((service, all));
                continue;
            }

            var pairs = new HashSet<ProfileLabel>();
            var types = stored.Where(t => t.Service == service).Select(t => t.Stored).Distinct();
            foreach (var type in types)
            {
                var query = new ProfileQuery(service, type, from, to, selector.RequiredLabels, Filter: selector.Filter);
                foreach (var key in all.Select(l => l.Key).Distinct(StringComparer.Ordinal))
                {
                    var points = await ByLabelOverRangeAsync(query, key, cancellationToken).ConfigureAwait(false);
                    pairs.UnionWith(points.Select(p => new ProfileLabel(key, p.Value)));
                }
            }

            result.Add((service, [.. pairs]));
        }

        return result;
    }

    /// <summary>
    /// The merge of every profile the selector picks of the type id's stored type between the times (Unix
    /// nanoseconds), across services, and the index of the id's sample type in it; null when nothing matches.
    /// </summary>
    /// <exception cref="InvalidRequestException">The type id is not one Hotpath stores.</exception>
    public async Task<(Profile Merged, int SampleType)?> MergeAsync(string typeId, LabelSelector selector, long from, long to,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(selector);
        if (!PyroscopeTypeId.TryResolve(typeId, out var type, out var id))
            throw new InvalidRequestException($"unknown profile type \"{typeId}\": a Pyroscope type id, <name>:<sample type>:<sample unit>:<period type>:<period unit>, e.g. process_cpu:cpu:nanoseconds:cpu:nanoseconds");
        // One service (Grafana's usual query) is its merge as it is: merging it again would only copy it.
        Profile? first = null;
        ProfileMerger? total = null;
        foreach (var service in await ServicesAsync(selector, cancellationToken).ConfigureAwait(false))
        {
            try
            {
                var query = new ProfileQuery(service, type, from, to, selector.RequiredLabels, Filter: selector.Filter);
                var merged = (await merger.MergeSelectionAsync(query, cancellationToken).ConfigureAwait(false)).Merged;
                if (first is null)
                {
                    first = merged;
                    continue;
                }

                if (total is null)
                {
                    total = new ProfileMerger();
                    total.Add(first);
                }

                total.Add(merged);
            }
            catch (NothingFoundException)
            {
                // nothing of this service in the range
            }
        }

        if (first is null)
            return null;
        var profile = total?.Build() ?? first;
        var index = SampleTypeIndex(profile, id!);
        return index < 0 ? null : (profile, index);
    }

    /// <summary>
    /// Pyroscope's diff of two selections (each a type id, a selector and Unix nanoseconds): the right one's flame
    /// graph against the left one's, either empty when nothing matches it.
    /// </summary>
    /// <exception cref="InvalidRequestException">A type id that is not one Hotpath stores.</exception>
    public async Task<PyroscopeFlameGraph> DiffAsync((string TypeId, LabelSelector Selector, long From, long To) left,
        (string TypeId, LabelSelector Selector, long From, long To) right, long maxNodes, CancellationToken cancellationToken)
    {
        var empty = (new Profile { SampleType = { new Pprof.Proto.ValueType() } }, 0);
        var (leftProfile, leftIndex) = await MergeAsync(left.TypeId, left.Selector, left.From, left.To, cancellationToken).ConfigureAwait(false) ?? empty;
        var (rightProfile, rightIndex) = await MergeAsync(right.TypeId, right.Selector, right.From, right.To, cancellationToken).ConfigureAwait(false) ?? empty;
        return PyroscopeFlameGraph.Diff(leftProfile, leftIndex, rightProfile, rightIndex, maxNodes);
    }

    /// <summary>The index of the id's sample type (by type and unit, else by type) in the profile; -1 when it has none.</summary>
    private static int SampleTypeIndex(Profile profile, PyroscopeTypeId id)
    {
        var fallback = -1;
        for (var i = 0; i < profile.SampleType.Count; i++)
        {
            var type = profile.StringTable[(int)profile.SampleType[i].Type];
            if (type != id.SampleType)
                continue;
            if (profile.StringTable[(int)profile.SampleType[i].Unit] == id.SampleUnit)
                return i;
            fallback = i;
        }

        return fallback;
    }

    /// <summary>Most steps a series of a sample type other than the main one may have: each is a merge.</summary>
    public const int MaxMergedSteps = 1_000;

    /// <summary>
    /// Pyroscope's SelectSeries: the value of the type id's sample type per step of <paramref name="stepNanos"/>
    /// from <paramref name="from"/> (a point only where profiles are), one series per value of the
    /// <paramref name="groupBy"/> label (none: one series; <c>service_name</c>: one a service), summed or averaged
    /// over the profiles of each step, the <paramref name="limit"/> largest series (0: all). A sample type that is
    /// the stored profiles' main value is read from the stores' series (pieces and metadata); another is merged
    /// step by step, at most <see cref="MaxMergedSteps"/> steps.
    /// </summary>
    /// <exception cref="InvalidRequestException">An unknown type id, more than one group_by label, a step of 0, too many steps.</exception>
    public async Task<IReadOnlyList<SelectedSeries>> SeriesAsync(string typeId, LabelSelector selector, long from, long to, IReadOnlyList<string> groupBy,
        long stepNanos, bool average, int limit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(selector);
        ArgumentNullException.ThrowIfNull(groupBy);
        if (!PyroscopeTypeId.TryResolve(typeId, out var type, out var id))
            throw new InvalidRequestException($"unknown profile type \"{typeId}\": a Pyroscope type id, e.g. process_cpu:cpu:nanoseconds:cpu:nanoseconds");
        if (groupBy.Count > 1)
            throw new InvalidRequestException($"group_by of {groupBy.Count} labels: Hotpath groups by one label (or service_name)");
        if (stepNanos <= 0)
            throw new InvalidRequestException("step must be a positive number of seconds");
        var key = groupBy.Count == 1 ? groupBy[0] : null;
        var steps = new Dictionary<string, SortedDictionary<long, (double Value, int Profiles)>>(StringComparer.Ordinal);
        void Add(string group, long time, double value, int profiles)
        {
            if (time < from || time > to)
                return;
            if (!steps.TryGetValue(group, out var points))
                steps[group] = points = [];
            var step = from + (time - from) / stepNanos * stepNanos;
            var (sum, count) = points.GetValueOrDefault(step);
            points[step] = (sum + value, count + profiles);
        }

        foreach (var service in await ServicesAsync(selector, cancellationToken).ConfigureAwait(false))
        {
            var query = new ProfileQuery(service, type, from, to, selector.RequiredLabels, Filter: selector.Filter);
            var group = key == LabelSelector.ServiceLabel ? service : "";
            if (id!.IsMainOf(type) && key is null or LabelSelector.ServiceLabel)
            {
                foreach (var point in await reader.SeriesAsync(query, stepNanos, cancellationToken).ConfigureAwait(false))
                    Add(group, point.TimeUnixNanos, point.Value, point.Profiles);
            }
            else if (id.IsMainOf(type))
            {
                foreach (var point in await reader.SeriesByLabelAsync(query, key!, stepNanos, cancellationToken).ConfigureAwait(false))
                    Add(point.Value, point.Point.TimeUnixNanos, point.Point.Value, point.Point.Profiles);
            }
            else
            {
                if ((to - from) / stepNanos >= MaxMergedSteps)
                    throw new InvalidRequestException($"more than {MaxMergedSteps} steps of {id.SampleType}, which is merged step by step; a longer step");
                var groups = key is null or LabelSelector.ServiceLabel
                    ? [(group, query)]
                    : (await ByLabelOverRangeAsync(query, key, cancellationToken).ConfigureAwait(false))
                        .Select(p => p.Value).Distinct(StringComparer.Ordinal)
                        .Select(value => (value, query with { Labels = [.. query.Labels, new ProfileLabel(key, value)] })).ToList();
                foreach (var (name, groupQuery) in groups)
                {
                    for (var start = from; start <= to; start += stepNanos)
                    {
                        var step = groupQuery with { FromUnixNanos = start, ToUnixNanos = Math.Min(to, start + stepNanos - 1) };
                        try
                        {
                            var (merged, count) = await merger.MergeSelectionAsync(step, cancellationToken).ConfigureAwait(false);
                            var index = SampleTypeIndex(merged, id);
                            if (index >= 0)
                                Add(name, start, merged.Totals()[index], count);
                        }
                        catch (NothingFoundException)
                        {
                            // an empty step: no point
                        }
                    }
                }
            }
        }

        var series = steps.Select(s => new SelectedSeries(
                key is null ? [] : [new ProfileLabel(key, s.Key)],
                [.. s.Value.Select(p => (p.Key, average && p.Value.Profiles > 0 ? p.Value.Value / p.Value.Profiles : p.Value.Value))]))
            .OrderByDescending(s => s.Total).ToList();
        return limit > 0 && series.Count > limit ? series[..limit] : series;
    }

    /// <summary>
    /// The values of a key among the selection, one point a label set over the whole range (its pieces), not one a
    /// profile: what the label queries read.
    /// </summary>
    private Task<IReadOnlyList<LabeledSeriesPoint>> ByLabelOverRangeAsync(ProfileQuery query, string key, CancellationToken cancellationToken) =>
        reader.SeriesByLabelAsync(query, key, Math.Max(1, query.ToUnixNanos - query.FromUnixNanos), cancellationToken);

    /// <summary>The label sets of one key's values among the selection, and the empty set when some profile has no value.</summary>
    private async Task<List<IReadOnlyList<ProfileLabel>>> ValuesOfAsync(ProfileQuery query, string key, CancellationToken cancellationToken)
    {
        var labeled = await ByLabelOverRangeAsync(query, key, cancellationToken).ConfigureAwait(false);
        List<IReadOnlyList<ProfileLabel>> sets = [.. labeled.Select(p => p.Value).Distinct(StringComparer.Ordinal).Select(v => (IReadOnlyList<ProfileLabel>)[new ProfileLabel(key, v)])];
        // A profile carries at most one value of a key: fewer labeled profiles than profiles means some carry none.
        var whole = Math.Max(1, query.ToUnixNanos - query.FromUnixNanos);
        if (labeled.Sum(p => p.Point.Profiles) < (await reader.SeriesAsync(query, whole, cancellationToken).ConfigureAwait(false)).Sum(p => p.Profiles))
            sets.Add([]);
        return sets;
    }

    /// <summary>
    /// Pyroscope's Series: the distinct label sets of what the selector picks between the times, each with its
    /// <c>service_name</c>, <c>__profile_type__</c> (one set per type id) and <c>__name__</c>, projected onto
    /// <paramref name="labelNames"/> when given. Projected onto those three (Drilldown's grid of services) it needs
    /// no profile's labels; onto one label of the profiles besides, it reads that label's series (pieces, at fleet
    /// scale too); else the profiles' metadata (a find per service and type), whose cost grows with the range.
    /// </summary>
    public async Task<IReadOnlyList<IReadOnlyList<ProfileLabel>>> LabelSetsAsync(LabelSelector selector, IReadOnlyCollection<string> labelNames,
        long from, long to, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(selector);
        ArgumentNullException.ThrowIfNull(labelNames);
        var sets = new Dictionary<string, IReadOnlyList<ProfileLabel>>(StringComparer.Ordinal);
        var ownNames = labelNames.Where(n => n is not (LabelSelector.ServiceLabel or LabelSelector.ProfileTypeLabel or "__name__")).ToList();
        foreach (var group in (await TypesAsync(selector, from, to, cancellationToken).ConfigureAwait(false)).GroupBy(t => t.Service, StringComparer.Ordinal))
        {
            foreach (var ids in group.GroupBy(t => t.Stored))
            {
                var query = new ProfileQuery(group.Key, ids.Key, from, to, selector.RequiredLabels, Filter: selector.Filter);
                List<IReadOnlyList<ProfileLabel>> labelSets = labelNames.Count == 0 || ownNames.Count > 1
                    ? [.. (await reader.FindAsync(query, cancellationToken).ConfigureAwait(false)).Select(m => m.Labels).DistinctBy(LabelSetKey.Encode, StringComparer.Ordinal)]
                    : ownNames.Count == 0 ? [[]] : await ValuesOfAsync(query, ownNames[0], cancellationToken).ConfigureAwait(false);
                foreach (var (_, _, id) in ids)
                {
                    foreach (var labels in labelSets)
                    {
                        IReadOnlyList<ProfileLabel> set = [.. labels.Append(new ProfileLabel(LabelSelector.ServiceLabel, group.Key))
                            .Append(new ProfileLabel(LabelSelector.ProfileTypeLabel, id.Id)).Append(new ProfileLabel("__name__", id.Name))
                            .Where(l => labelNames.Count == 0 || labelNames.Contains(l.Key)).OrderBy(l => l.Key, StringComparer.Ordinal)];
                        sets.TryAdd(LabelSetKey.Encode(set), set);
                    }
                }
            }
        }

        return [.. sets.Values];
    }
}
