using Hotpath.Pprof.Analysis;
using Hotpath.Pprof.Conversions;
using Hotpath.Testing;

namespace Hotpath.Pprof.Tests;

public sealed class PyroscopeFlameGraphTests
{
    [Fact]
    public void Each_level_lays_its_nodes_out_by_offset_and_the_totals_add_up()
    {
        var profile = TestData.Decode("cpu_1.pb.gz");

        var flame = PyroscopeFlameGraph.Of(profile, 1);

        Assert.Equal("total", flame.Names[0]);
        Assert.Equal(profile.Totals()[1], flame.Total);
        Assert.Equal([0, flame.Total, 0, 0], flame.Levels[0]);
        for (var depth = 1; depth < flame.Levels.Count; depth++)
        {
            // x positions from offsets never go back, and a level's nodes fit inside the one above.
            var level = flame.Levels[depth];
            Assert.Equal(0, level.Length % 4);
            long x = 0;
            for (var i = 0; i < level.Length; i += 4)
            {
                Assert.True(level[i] >= 0, "a negative offset");
                x += level[i] + level[i + 1];
                Assert.InRange(level[i + 3], 1, flame.Names.Count - 1);
            }

            Assert.InRange(x, 0, flame.Total);
        }

        // Every sample's value is a self somewhere: the selfs add up to the total.
        Assert.Equal(flame.Total, flame.Levels.Sum(l => l.Where((_, i) => i % 4 == 2).Sum()));
        Assert.Equal(flame.Levels.SelectMany(l => l.Where((_, i) => i % 4 == 2)).Max(), flame.MaxSelf);
    }

    [Fact]
    public void Inlined_frames_of_one_location_are_frames_of_their_own_outermost_first_by_bare_function_name()
    {
        // Location 1 is strings.Index inlined into main.parse (a location's lines are innermost first); 2 is main.main.
        var profile = new Proto.Profile
        {
            StringTable = { "", "cpu", "nanoseconds", "strings.Index", "main.parse", "main.main" },
            SampleType = { new Proto.ValueType { Type = 1, Unit = 2 } },
            Function = { new Proto.Function { Id = 1, Name = 3 }, new Proto.Function { Id = 2, Name = 4 }, new Proto.Function { Id = 3, Name = 5 } },
            Location =
            {
                new Proto.Location { Id = 1, Line = { new Proto.Line { FunctionId = 1 }, new Proto.Line { FunctionId = 2 } } },
                new Proto.Location { Id = 2, Line = { new Proto.Line { FunctionId = 3 } } },
            },
            Sample = { new Proto.Sample { LocationId = { 1, 2 }, Value = { 70 } } },
        };

        var flame = PyroscopeFlameGraph.Of(profile, 0);

        Assert.Equal(["main.main", "main.parse", "strings.Index"], flame.Levels.Skip(1).Select(l => flame.Names[(int)l[3]]));
        Assert.All(flame.Levels, l => Assert.Equal(70, l[1]));
    }

    [Fact]
    public void A_node_cap_folds_the_smallest_nodes_and_keeps_the_total()
    {
        var profile = TestData.Decode("cpu_2.pb.gz");
        var full = PyroscopeFlameGraph.Of(profile, 1, maxNodes: 0);

        var capped = PyroscopeFlameGraph.Of(profile, 1, maxNodes: 10);

        Assert.Equal(full.Total, capped.Total);
        Assert.True(capped.Levels.Sum(l => l.Length / 4) < full.Levels.Sum(l => l.Length / 4));
        Assert.Equal(capped.Total, capped.Levels.Sum(l => l.Where((_, i) => i % 4 == 2).Sum()));
    }

    [Theory]
    [InlineData("process_cpu:cpu:nanoseconds:cpu:nanoseconds", ProfileType.Cpu)]
    [InlineData("memory:inuse_space:bytes:space:bytes", ProfileType.Heap)]
    [InlineData("goroutines:goroutine:count:goroutine:count", ProfileType.Goroutine)]
    [InlineData("mutex:delay:nanoseconds:contentions:count", ProfileType.Mutex)]
    [InlineData("wall:wall:nanoseconds:wall:nanoseconds", ProfileType.Wall)]
    public void Pyroscope_type_ids_resolve_to_the_stored_type(string id, ProfileType type)
    {
        Assert.True(PyroscopeTypeId.TryResolve(id, out var resolved, out var parsed));
        Assert.Equal(type, resolved);
        Assert.Equal(id, parsed!.Id);
        Assert.Contains(PyroscopeTypeId.For(type), t => t.Id == id);
    }

    [Theory]
    [InlineData("cpu")]
    [InlineData("process_cpu:cpu:nanoseconds:cpu")]
    [InlineData("unknown:cpu:nanoseconds:cpu:nanoseconds")]
    public void Anything_else_is_not_a_type_id(string id)
    {
        Assert.False(PyroscopeTypeId.TryResolve(id, out _, out _));
    }
}
