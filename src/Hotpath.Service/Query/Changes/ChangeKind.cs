namespace Hotpath.Service.Query.Changes;

/// <summary>Which way a function moved between the baseline and the target.</summary>
public enum ChangeKind
{
    /// <summary>Its share grew.</summary>
    Regression,

    /// <summary>Its share shrank.</summary>
    Improvement,

    /// <summary>Absent from the baseline, present in the target.</summary>
    Appeared,

    /// <summary>Present in the baseline, absent from the target.</summary>
    Vanished,
}
