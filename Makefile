# Convenience targets; the scripts they call are the source of truth.
.PHONY: demo test units sanity lint lab lab-ssh lab-down lab-reset clean

demo:            ## boot the lab with arrays in it and run fleet_facts against it
	tests/demo

test:            ## everything: build, sanity, lint, unit tests, lab scenarios
	tests/run-all

units:
	LIFELINE_STAGES=units tests/run-all

sanity:
	LIFELINE_STAGES="build sanity" tests/run-all

lint:
	LIFELINE_STAGES=lint tests/run-all

lab:             ## boot the lab guest (builds and caches the image the first time)
	tests/tools/bootstrap && tests/lab/lab up

lab-ssh:         ## a root shell in the lab guest
	tests/lab/lab ssh

lab-down:        ## stop the lab guest and drop its disks
	tests/lab/lab down

lab-reset:       ## fresh root overlay and blank data disks
	tests/lab/lab reset

clean:
	rm -rf .venv reports
