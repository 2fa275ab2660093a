using Hotpath.Collector.Hosting;

await CollectorApp.Build(args).RunAsync();
