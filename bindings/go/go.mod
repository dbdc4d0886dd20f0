module lmbatch

go 1.19
