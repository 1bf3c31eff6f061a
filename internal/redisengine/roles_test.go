package redisengine

// roleEnv names the helper role a re-executed test binary runs.
const roleEnv = "REDISENGINE_TEST_ROLE"

// runRole runs a helper role and returns the exit code.
func runRole(role string) int {
	return 2
}
