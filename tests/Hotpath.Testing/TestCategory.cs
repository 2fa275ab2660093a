namespace Hotpath.Testing;

/// <summary>The "Category" trait values that the test command runs apart.</summary>
public static class TestCategory
{
    public const string Trait = "Category";

    /// <summary>
    /// Tests that assert the shares a sampling profiler measures. The test command runs them after the others,
    /// one project at a time: on a machine whose cores other test projects keep busy, shares drifted by 5–7
    /// points (measured with four test projects at once on two cores), which is the scheduler, not the profiler.
    /// </summary>
    public const string Sampling = "Sampling";
}
