using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(Hotpath.Benchmarks.PprofBenchmarks).Assembly).Run(args);
