namespace Hotpath.Testing;

/// <summary>The "Category" trait values that the test command runs apart.</summary>
public static class TestCategory
{
    public const string Trait = "Category";

    /// <summary>
    /// Tests that assert the shares a sampling profiler measures, within a few points. The test command runs
    /// them after the others, one project at a time: with four test projects at once on two cores, HotApp's
    /// measured Checksum share moved 2–4 points off its true split, which leaves too little of a ±5-point
    /// margin.
    /// </summary>
    public const string Sampling = "Sampling";

    /// <summary>
    /// Tests whose outside clients read the machine's own clock, which the tests cannot move: a Go service's
    /// profiles, the Pyroscope Node.js SDK's, a shell's <c>date</c>. The run with the clock a year ahead
    /// (<see cref="TestClock"/>) leaves them out.
    /// </summary>
    public const string MachineClock = "MachineClock";
}
