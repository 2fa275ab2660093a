using System.Runtime.InteropServices;
using Hotpath.Agent.Perf;

namespace Hotpath.Agent.Tests;

public sealed class ProcessSymbolsTests
{
    [Theory]
    [InlineData("0x7fd930074100 a9 int64 [HotApp] HotApp.Work::Checksum(int64,int64)[QuickJitted]")]
    [InlineData("0x7fd9300741c0 43 int64 [HotApp] HotApp.Work::Checksum(int64,int64)[OptimizedTier1OSR]")]
    [InlineData("0x7fd930074c40 33 int64 [HotApp] HotApp.Work::Checksum(int64,int64)[OptimizedTier1]")]
    public void Every_tier_of_a_method_in_the_perf_map_has_the_name_the_eventpipe_sampler_gives_it(string line)
    {
        var entry = ProcessSymbols.ParsePerfMapLine(line);

        Assert.Equal("HotApp.Work.Checksum", entry?.Name);
        Assert.Equal("HotApp", entry?.Assembly);
        Assert.True(entry?.End > entry?.Start);
    }

    [Theory]
    [InlineData("valuetype [System.Runtime]System.ValueTuple`2<int64,int64> [HotApp] HotApp.Work::Calibrate(int32,int32)[QuickJitted]", "HotApp.Work.Calibrate")]
    [InlineData("instance void [HotApp] Program+<>c__DisplayClass0_0::<<Main>$>b__2()[Optimized]", "Program+<>c__DisplayClass0_0.<<Main>$>b__2")]
    [InlineData("class [System.Runtime]System.Threading.Tasks.Task`1<int32> [HotApp] Program::<Main>$(string[])[QuickJitted]", "Program.<Main>$")]
    [InlineData("stub ReportStubBlock<MethodCallThunk>", "stub ReportStubBlock<MethodCallThunk>")]
    public void Perf_map_names_become_namespace_type_method(string entry, string name) =>
        Assert.Equal(name, ProcessSymbols.MethodName(entry));

    [Fact]
    public void A_native_function_of_this_process_is_named_by_its_module_and_elf_symbol()
    {
        var libc = NativeLibrary.Load("libc.so.6");
        var getpid = (ulong)NativeLibrary.GetExport(libc, "getpid");
        var symbols = new ProcessSymbols(Environment.ProcessId);
        symbols.Refresh();

        var frame = symbols.Resolve(getpid, returnAddress: false);

        Assert.StartsWith("libc.so.6!", frame.Function);
        Assert.EndsWith("getpid", frame.Function);
        Assert.StartsWith("0x", symbols.Resolve(16, returnAddress: false).Function); // nothing is mapped there
    }
}
