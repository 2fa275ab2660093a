namespace Hotpath.Service.Query;

/// <summary>One value of an explored label: its series and its share of the ranked values' total.</summary>
public sealed record ExploredValue(string Value, TimeSeries Series, double Share);
