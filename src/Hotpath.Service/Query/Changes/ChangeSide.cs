namespace Hotpath.Service.Query.Changes;

/// <summary>One side of a comparison as read: its selection, the profiles it holds, the intervals with profiles, and its total.</summary>
public sealed record ChangeSide(Hotpath.Storage.ProfileQuery Query, int Profiles, int Intervals, long Total);
