using Hotpath.Pprof;

namespace Hotpath.Storage.Pieces;

/// <summary>
/// Groups of label sets with pieces of their own, so that a filter on one low-cardinality label (a version, a
/// region) across a fleet reads one piece per bucket instead of one per instance: the group of a label pair
/// holds every profile of a service and type whose labels have that pair, as <see cref="BucketGrid.AllLabels"/>
/// (the group of every set) holds all of them. A group's key is <see cref="BucketGrid.AllLabels"/> followed by
/// its pair as a <see cref="LabelSetKey"/>, so no label set's key (which starts with a digit, or is empty) reads so.
/// Which labels are grouped is chosen from a service's and type's label sets (<see cref="Choose"/>).
/// </summary>
public static class LabelGroups
{
    /// <summary>
    /// A label with more values is not grouped: each value's pieces hold about as much as the all-labels ones
    /// for that value's share, so a label's groups cost one more copy of the pieces whatever its values, and
    /// past a few values a filter on one of them reads little of the fleet anyway.
    /// </summary>
    public const int MaxValues = 8;

    /// <summary>
    /// Nor is a label whose values have fewer label sets each on average: a filter on it reads few enough sets'
    /// pieces (a day of the fleet of <c>bench/fleet.sh</c>: 20 sets a value in 59 ms, 100 in 842 ms, about 8 ms
    /// a set), and groups cost their pieces and a second fold of every profile (grouping the 20 made its writes
    /// a fifth slower and its builder fall behind).
    /// </summary>
    public const int MinSetsPerValue = 24;

    /// <summary>The group of the profiles with <paramref name="pair"/>.</summary>
    public static string Of(ProfileLabel pair) => BucketGrid.AllLabels + LabelSetKey.Encode([pair]);

    /// <summary>True for a group's key (<see cref="BucketGrid.AllLabels"/> too), false for a label set's.</summary>
    public static bool IsGroup(string labels) => labels.StartsWith(BucketGrid.AllLabels, StringComparison.Ordinal);

    /// <summary>True for a label's group, false for <see cref="BucketGrid.AllLabels"/> and for a label set's key.</summary>
    public static bool IsLabelGroup(string labels) => labels != BucketGrid.AllLabels && IsGroup(labels);

    /// <summary>True when a label set (decoded) belongs to the group.</summary>
    public static bool Holds(string group, IReadOnlyList<ProfileLabel> set) => group == BucketGrid.AllLabels || Holds(PairOf(group), set);

    /// <summary>True when a label set (decoded) belongs to the group of <paramref name="pair"/>.</summary>
    public static bool Holds(ProfileLabel pair, IReadOnlyList<ProfileLabel> set)
    {
        ArgumentNullException.ThrowIfNull(set);
        foreach (var label in set)
        {
            if (label == pair)
                return true;
        }

        return false;
    }

    /// <summary>The pair of a group other than <see cref="BucketGrid.AllLabels"/>.</summary>
    public static ProfileLabel PairOf(string group) => LabelSetKey.Decode(group[BucketGrid.AllLabels.Length..])[0];

    /// <summary>
    /// The groups a service's and type's label sets (decoded) call for: one per value of each label with 2 to
    /// <see cref="MaxValues"/> values and at least <see cref="MinSetsPerValue"/> sets per value, sorted.
    /// </summary>
    public static IReadOnlyList<string> Choose(IReadOnlyCollection<IReadOnlyList<ProfileLabel>> sets)
    {
        ArgumentNullException.ThrowIfNull(sets);
        var values = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        foreach (var set in sets)
        {
            foreach (var label in set)
            {
                if (!values.TryGetValue(label.Key, out var seen))
                    values[label.Key] = seen = new HashSet<string>(StringComparer.Ordinal);
                seen.Add(label.Value);
            }
        }

        return [.. values.Where(v => v.Value.Count is >= 2 and <= MaxValues && sets.Count >= MinSetsPerValue * v.Value.Count)
            .SelectMany(v => v.Value.Select(value => Of(new ProfileLabel(v.Key, value))))
            .Order(StringComparer.Ordinal)];
    }
}
