package main

import "context"

// W9 is one process making 100,000 Store+Load pairs in pipelines of 100
// operations (50 pairs each, as the go-redis anchor's pipelines of 100
// commands), beside go-redis pipelines of 100 in the same run. It needs
// the typed pipelines of issue 13, which do not exist yet: until they do,
// W9 reports that it is not implemented rather than a figure measured
// some other way.
func runW9(context.Context) ([]*row, error) {
	return []*row{newRow("workload", "W9", "name", "pipeline", "pairs", 100_000, "pipeline_ops", 100,
		"implemented", false, "note", "needs pipelines (issue 13): no figure until Dict operations can be pipelined")}, nil
}
