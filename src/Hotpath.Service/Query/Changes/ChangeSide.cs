namespace Hotpath.Service.Query.Changes;

/// <summary>One side of a comparison as read: its selection, the profiles it holds, the intervals with profiles, and its total.</summary>
public sealed record ChangeSide(Hotpath.Storage.ProfileQuery Query, int Profiles, int Intervals, long Total)
{
    /// <summary>The labels the side's selection requires, as <c>key=value,…</c> (empty for none).</summary>
    public string Labels => string.Join(",", Query.Labels.Select(l => $"{l.Key}={l.Value}"));
}
